// A listing of a directory tree, for tests that check what an operation left behind.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every path under `dir`, directories ending with '/', sorted: what a refusal must leave as it was. */
export function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(`${e.name}/`, ...tree(join(dir, e.name)).map((p) => `${e.name}/${p}`));
    else out.push(e.name);
  }
  return out.sort();
}
