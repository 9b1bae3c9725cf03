#!/usr/bin/env node
// The digest of what lib/ is compiled from: every file under src/, the TypeScript configuration
// and the compiler's version. `npm run build:ts` records it in lib/.source-digest once tsc
// succeeded. The tests import src/ but run lib/ in child processes and worker threads (the
// command line, crash and lock children), so they compare the two first (test/built-lib.ts):
// a lib/ built from other sources fails with what to run, instead of testing other code than
// the test reads.
//
//   node scripts/source-digest.mjs write    records the digest of the sources as they are now
//   node scripts/source-digest.mjs check    exits 1, saying why, when lib/ is not built from them
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIGEST_FILE = join('lib', '.source-digest');

function filesUnder(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** The digest of the sources lib/ is compiled from, as they are now under `root`. */
export function sourceDigest(root = packageRoot) {
  const hash = createHash('sha256');
  const files = [...filesUnder(join(root, 'src')), join(root, 'tsconfig.json'), join(root, 'tsconfig.build.json')];
  for (const file of files.map((f) => relative(root, f).split(sep).join('/')).sort()) {
    const bytes = readFileSync(join(root, file));
    hash.update(`${file}\0${bytes.length}\0`).update(bytes);
  }
  const compiler = join(root, 'node_modules', 'typescript', 'package.json');
  hash.update(`typescript\0${existsSync(compiler) ? JSON.parse(readFileSync(compiler, 'utf8')).version : 'absent'}`);
  return hash.digest('hex');
}

/** Why lib/ under `root` is not compiled from the sources as they are now, or null when it is. */
export function libStaleness(root = packageRoot) {
  const file = join(root, DIGEST_FILE);
  if (!existsSync(file)) return `lib/ has no record of the sources it was compiled from (${DIGEST_FILE} is missing)`;
  if (readFileSync(file, 'utf8').trim() !== sourceDigest(root)) return 'src/ (or the TypeScript configuration) changed since lib/ was last compiled';
  return null;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const command = process.argv[2];
  if (command === 'write') {
    writeFileSync(join(packageRoot, DIGEST_FILE), `${sourceDigest()}\n`);
  } else if (command === 'check') {
    const why = libStaleness();
    if (why !== null) {
      console.error(`${why}; run \`npm run build:ts\``);
      process.exit(1);
    }
  } else {
    console.error('usage: node scripts/source-digest.mjs write|check');
    process.exit(2);
  }
}
