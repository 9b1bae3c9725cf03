#!/usr/bin/env node
// Builds the native addon with node-gyp (run through npm, so node-gyp finds Node's headers from
// npm's configuration). A failed build never fails the install: the reason is written to
// build/native-build-error.txt, and the library runs on its TypeScript path and says why once.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const errorFile = join(root, 'build', 'native-build-error.txt');

function fail(reason) {
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(errorFile, `${reason.trim()}\n`);
  console.warn(
    `tapio-storage: the native addon was not built; the TypeScript path will be used.\n  reason: ${reason.trim().split('\n').slice(-8).join('\n  ')}`,
  );
  process.exit(0);
}

if (process.env.TAPIO_SKIP_NATIVE_BUILD === '1') fail('TAPIO_SKIP_NATIVE_BUILD=1 was set when the package was built');

// `configure` only when there is no build tree yet; afterwards `build` is incremental.
const configured = existsSync(join(root, 'build', 'Makefile')) || existsSync(join(root, 'build', 'binding.sln'));
const args = configured ? ['build'] : ['rebuild'];
args.push(`--jobs=${process.env.JOBS ?? 'max'}`);

// npm puts node_modules/.bin (and its own node-gyp) on PATH for lifecycle scripts;
// npm_config_node_gyp names npm's bundled copy when ours is not installed yet.
const candidates = [['node-gyp', args]];
if (process.env.npm_config_node_gyp) candidates.push([process.execPath, [process.env.npm_config_node_gyp, ...args]]);

let last = '';
for (const [cmd, argv] of candidates) {
  const res = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.error && res.error.code === 'ENOENT') {
    last = `${cmd} was not found`;
    continue;
  }
  if (res.status === 0) {
    rmSync(errorFile, { force: true });
    if (process.env.TAPIO_BUILD_VERBOSE === '1') process.stdout.write(res.stdout);
    process.exit(0);
  }
  last = `node-gyp ${argv.join(' ')} exited with ${res.status ?? res.signal}\n${res.stderr || res.stdout}`;
  break;
}
fail(last);
