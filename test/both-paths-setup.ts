// vitest's global setup: stops the run before any test file when the native path cannot run
// (see requireBothPaths), and says which paths the run covers.
import { requireBothPaths } from './paths.js';

export default function setup(): void {
  let covers: string;
  try {
    covers = requireBothPaths();
  } catch (err) {
    // Exit here: thrown, the reason would follow vitest's own "No test files found", which is
    // not why the run stopped.
    process.stderr.write(`\ntapio-storage tests: ${(err as Error).message}\n\n`);
    process.exit(1);
  }
  process.stdout.write(`tapio-storage tests cover ${covers}\n`);
}
