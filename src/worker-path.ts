/**
 * Where the compiled file of a worker thread is. Workers run compiled JavaScript: beside the
 * caller under lib/, or, when the caller runs from its TypeScript source (the test runner), the
 * same file under lib/ (npm test builds it first). Null when that file is missing.
 */
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled `worker` (a file name without extension) beside the module at `callerUrl` (its import.meta.url). */
export function compiledWorker(callerUrl: string, worker: string): string | null {
  const here = fileURLToPath(callerUrl);
  if (here.endsWith('.js')) return join(dirname(here), `${worker}.js`);
  const dir = `${dirname(here)}${sep}`;
  const src = dir.lastIndexOf(`${sep}src${sep}`);
  if (src < 0) return null;
  const built = join(`${dir.slice(0, src)}${sep}lib${sep}${dir.slice(src + 5)}`, `${worker}.js`);
  return existsSync(built) ? built : null;
}
