// What README.md promises a new user: the Node.js version it names and its usage example.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { libPath } from './built-lib.js';

const rootDir = join(import.meta.dirname, '..');
const readme = readFileSync(join(rootDir, 'README.md'), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'tapio-readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('README.md', () => {
  it('names the Node.js version package.json requires', () => {
    const engines = (JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const minimum = /^>=(\d+\.\d+)\.0$/.exec(engines)?.[1];
    expect(minimum).toBeDefined();
    expect(readme).toContain(`Node.js ${minimum} or newer`);
  });

  it('its usage example runs, and runs again on the same data directory', () => {
    const block = /## Using it\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    // The compiled package (npm run build) stands in for the installed one.
    const script = block!.replace("from 'tapio-storage'", `from ${JSON.stringify(pathToFileURL(libPath('index.js')).href)}`);
    const file = join(work, 'example.mjs');
    writeFileSync(file, script);
    for (const attempt of [1, 2]) {
      const r = spawnSync(process.execPath, [file], { cwd: work, encoding: 'utf8' });
      expect(r.stderr, `run ${attempt}`).toBe('');
      expect(r.status, `run ${attempt}`).toBe(0);
    }
  });
});
