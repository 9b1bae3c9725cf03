// Formats the sources: TypeScript and JavaScript with prettier (.prettierrc.json), C++ with
// clang-format (.clang-format). `node scripts/format.mjs` rewrites the files; with --check it
// changes nothing and exits 1 naming each file that is not formatted (npm test runs this).
// clang-format comes from the clang-format npm package, which carries binaries for some
// platforms only: elsewhere the C++ check is skipped, and says so.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const require = createRequire(import.meta.url);

/** Files under `dir` (relative to the root) whose names end with one of `suffixes`. */
function files(dir, suffixes) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (suffixes.some((s) => e.name.endsWith(s))) out.push(relative(root, p));
    }
  };
  walk(join(root, dir));
  return out.sort();
}

function run(command, args) {
  return spawnSync(process.execPath, [command, ...args], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
}

let failed = false;

const scripts = [
  ...files('src', ['.ts']),
  ...files('test', ['.ts', '.mjs']),
  ...files('bench', ['.mjs']),
  ...files('scripts', ['.mjs']),
  'vitest.config.ts',
  'vitest.long.config.ts',
].filter((f) => !f.startsWith('bench/results/') && !f.startsWith('bench/.scratch/'));
const prettier = run(require.resolve('prettier/bin/prettier.cjs'), [check ? '--list-different' : '--write', '--log-level', 'warn', ...scripts]);
if (prettier.status !== 0) {
  failed = true;
  const listed = prettier.stdout.trim();
  if (check && listed !== '') console.error(`Not formatted (run \`npm run format\`):\n${listed}`);
  if (prettier.stderr.trim() !== '') console.error(prettier.stderr.trim());
}

const cpp = [...files('native', ['.h', '.cc'])];
const clang = run(require.resolve('clang-format/index.js'), check ? ['--dry-run', '--Werror', ...cpp] : ['-i', ...cpp]);
if (clang.error || /doesn't bundle the clang-format executable/.test(clang.stderr)) {
  console.log(`C++ formatting not checked: the clang-format package has no binary for ${process.platform}-${process.arch}.`);
} else if (clang.status !== 0) {
  failed = true;
  const named = [...new Set([...clang.stderr.matchAll(/^([^:\n]+\.(?:h|cc)):\d+:\d+: /gm)].map((m) => m[1]))];
  console.error(check ? `Not formatted (run \`npm run format\`):\n${named.join('\n') || clang.stderr.trim()}` : clang.stderr.trim());
}

if (failed) process.exit(1);
console.log(check ? `formatting: ${scripts.length} TypeScript/JavaScript and ${cpp.length} C++ files are formatted` : 'formatted');
