#!/usr/bin/env node
// Builds the native core's C++ unit tests with CMake and runs them with ctest (the second half of
// `npm test`). Without cmake on PATH it says so and succeeds: the vitest suites still ran.
//
//   node scripts/ctest.mjs                    build-cmake/, optimised build
//   TAPIO_SANITIZE=1 node scripts/ctest.mjs   build-cmake-asan/, AddressSanitizer + UBSan
//   TAPIO_BUILD_VERBOSE=1                     show cmake's configure and build output as well
//
// Each case of native/test/*_test.cc is a ctest test of its own; a case that cannot run here
// (no direct I/O, say) ends as skipped, and the run ends by naming each skipped case and why.
//
// Exits with ctest's status, or 1 when configuring or building failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const verbose = process.env.TAPIO_BUILD_VERBOSE === '1';
const sanitize = !['', '0', 'false', 'off', 'no'].includes((process.env.TAPIO_SANITIZE ?? '').toLowerCase());
const buildDir = sanitize ? 'build-cmake-asan' : 'build-cmake';
const jobs = process.env.JOBS ?? '2';

function run(cmd, args, { quiet } = {}) {
  const res = spawnSync(cmd, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (res.error) throw res.error;
  return res;
}

function step(what, cmd, args) {
  const res = run(cmd, args, { quiet: !verbose });
  if (res.status === 0) return;
  if (!verbose) process.stderr.write(`${res.stdout ?? ''}${res.stderr ?? ''}`);
  console.error(`native tests: ${what} failed (${cmd} ${args.join(' ')} exited with ${res.status ?? res.signal})`);
  process.exit(1);
}

const probe = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) {
  console.log('native ctest suite skipped: cmake is not installed (not found on PATH)');
  process.exit(0);
}
const [major = 0, minor = 0] = (/cmake version (\d+)\.(\d+)/.exec(probe.stdout) ?? []).slice(1).map(Number);

// A build directory that git ignores whatever the top-level .gitignore lists.
mkdirSync(join(root, buildDir), { recursive: true });
if (!existsSync(join(root, buildDir, '.gitignore'))) writeFileSync(join(root, buildDir, '.gitignore'), '*\n');

console.log(`native tests: building in ${buildDir}/${sanitize ? ' with -fsanitize=address,undefined' : ''}`);
// Configuring an existing build directory keeps its cache and only regenerates what changed.
const configure = ['-S', '.', '-B', buildDir];
if (sanitize) configure.push('-DTAPIO_SANITIZE=address,undefined');
step('configure', 'cmake', configure);
step('build', 'cmake', ['--build', buildDir, '-j', jobs]);

// --test-dir arrived in ctest 3.20; older ctest runs from inside the build directory.
const hasTestDir = major > 3 || (major === 3 && minor >= 20);
const ctestArgs = ['--output-on-failure', ...(hasTestDir ? ['--test-dir', buildDir] : [])];
const res = spawnSync('ctest', ctestArgs, { cwd: hasTestDir ? root : join(root, buildDir), stdio: 'inherit' });
if (res.error) {
  console.error(`native tests: could not run ctest: ${res.error.message}`);
  process.exit(1);
}
// ctest lists skipped tests without the reason; each one printed it (harness_main.cc) into the log.
const log = join(root, buildDir, 'Testing', 'Temporary', 'LastTest.log');
const skipped = existsSync(log)
  ? readFileSync(log, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('[  SKIPPED ] '))
  : [];
if (skipped.length > 0) {
  console.log(`native tests: ${skipped.length} skipped, not passed:`);
  for (const line of skipped) console.log(`  ${line.slice('[  SKIPPED ] '.length)}`);
}
process.exit(res.status ?? 1);
