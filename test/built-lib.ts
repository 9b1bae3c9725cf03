// The tests import src/, but what they start as a separate process or worker thread (the command
// line, the crash, lock and producer children) runs the compiled lib/. Those tests get lib/ through
// here, which first makes sure lib/ was compiled from src/ as it is now, so parent and child run
// the same code. Checking beats running the children from src/ through a TypeScript loader: the
// command line is tested as it ships, and hundreds of child starts pay no compile.
import { join } from 'node:path';

// @ts-expect-error: a plain ESM script without types
import { libStaleness as libStalenessUntyped } from '../scripts/source-digest.mjs';

const libStaleness = libStalenessUntyped as (root: string) => string | null;
const root = join(import.meta.dirname, '..');
let current = false;

/** Throws, saying what to run, unless lib/ is compiled from src/ as it is now. */
export function assertLibCurrent(): void {
  if (current) return;
  const why = libStaleness(root);
  if (why !== null) {
    throw new Error(
      `${why}. This test runs lib/ in another process or thread while it imports src/ itself; run \`npm run build:ts\` (npm test does) and run it again.`,
    );
  }
  current = true;
}

/** The path of `parts` under lib/, once assertLibCurrent() passed. */
export function libPath(...parts: string[]): string {
  assertLibCurrent();
  return join(root, 'lib', ...parts);
}

/** The path of child script `name` in the test folder `dir` (it imports lib/), once assertLibCurrent() passed. */
export function libChildScript(dir: string, name: string): string {
  assertLibCurrent();
  return join(dir, name);
}
