// docs/OPERATIONS.md against what it describes: its configuration reference is what
// scripts/operations-doc.mjs renders from the schema, and it names every metric and route.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { resolveConfig } from '../src/config/index.js';
import { ALLOWED_KEYS, DEFAULTS, STORE_DIRS } from '../src/config/schema.js';
import { routeTable } from '../src/server/routes.js';
// @ts-expect-error: a plain ESM script without types
import * as operationsDoc from '../scripts/operations-doc.mjs';

const { renderOperationsDoc, renderConfigReference } = operationsDoc as {
  renderOperationsDoc: (doc: string, sources: unknown) => string;
  renderConfigReference: (sources: unknown) => string;
};

const root = join(import.meta.dirname, '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const doc = read('docs/OPERATIONS.md');
const sources = (configurationMd: string) => ({ configurationMd, DEFAULTS, ALLOWED_KEYS, STORE_DIRS, resolveConfig });

describe('docs/OPERATIONS.md', () => {
  it('holds the configuration reference the script renders (run `npm run build:ts && node scripts/operations-doc.mjs` after a change)', () => {
    expect(doc).toBe(renderOperationsDoc(doc, sources(read('docs/configuration.md'))));
  });

  it('the reference has one row per key of the schema, with the resolved value of sizes', () => {
    const rows = renderConfigReference(sources(read('docs/configuration.md')))
      .split('\n')
      .filter((line) => line.startsWith('| `'));
    expect(rows).toHaveLength(34);
    expect(rows).toContainEqual(expect.stringContaining('| `storage.transit.ring_capacity` | size | `64MB` = 67108864 bytes |'));
    expect(rows).toContainEqual(expect.stringContaining('| `storage.transit.wal_path` | path | `<dataDir>/wal` |'));
  });

  it('the script refuses a configuration.md whose keys or defaults disagree with the schema', () => {
    const configurationMd = read('docs/configuration.md');
    const withoutRow = configurationMd.replace(/^\| `server\.max_inflight` \|.*\n/m, '');
    expect(() => renderConfigReference(sources(withoutRow))).toThrow(/no row for the key server\.max_inflight/);
    const wrongDefault = configurationMd.replace('| `server.port` | integer | `7700` |', '| `server.port` | integer | `8080` |');
    expect(() => renderConfigReference(sources(wrongDefault))).toThrow(/default of server\.port/);
    const extraRow = configurationMd.replace('| `server.port` |', '| `server.tls` | boolean | `false` | x | y |\n| `server.port` |');
    expect(() => renderConfigReference(sources(extraRow))).toThrow(/server\.tls/);
  });

  it('names every metric the service exports', () => {
    const names = [...new Set([...read('src/server/service-metrics.ts').matchAll(/'(tapio_[a-z_]+)'/g)].map((m) => m[1]!))];
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) expect(doc, name).toContain(`\`${name}\``);
  });

  it('names every route of the service with the role it needs', () => {
    for (const route of routeTable()) {
      const row = doc.split('\n').find((line) => line.startsWith('| ') && line.includes(`\`${route.method} ${route.path}\``));
      expect(row, `${route.method} ${route.path}`).toBeDefined();
      const needs = { none: 'no key', any: 'any valid key', admin: '`admin`', writer: '`writer`', reader: '`reader`' }[route.role];
      expect(row, `${route.method} ${route.path}`).toContain(needs);
    }
  });
});
