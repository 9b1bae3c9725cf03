// `npm run bench`: runs every benchmark in this folder, one after another, each printing its
// table and writing bench/results/<name>.json. `npm run bench -- crc32c` runs only the named ones.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const skip = new Set(['harness.mjs', 'run.mjs']);
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && !skip.has(f))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.mjs$/, '')))
  .sort();
for (const f of files) {
  console.log(`\n=== bench/${f}`);
  const mod = await import(pathToFileURL(join(here, f)).href);
  if (typeof mod.run !== 'function') throw new Error(`bench/${f} exports no run()`);
  await mod.run();
}
