#!/usr/bin/env node
// Writes the configuration reference of docs/OPERATIONS.md, between its config-reference
// markers, from the configuration schema (the compiled lib/config: ALLOWED_KEYS for the key
// paths, DEFAULTS and STORE_DIRS for the defaults, resolveConfig for what they resolve to) and
// the type, meaning and accepted values in the "## Keys" table of docs/configuration.md (whose
// rows test/config/config.test.ts checks against the schema). Run `npm run build:ts` first.
// A key the schema has and the table lacks, a row the schema does not know, or a default the
// table writes differently from the schema stops the script: the reference is never half right.
// test/operations-doc.test.ts checks that docs/OPERATIONS.md is what this renders.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export const START = '<!-- config-reference:start -->';
export const END = '<!-- config-reference:end -->';

/** The cells of a Markdown table row (pipes escaped as `\|` stay inside their cell). */
function cells(line) {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** The rows of the "## Keys" table of docs/configuration.md, by key path. */
export function parseKeysTable(markdown) {
  const at = markdown.indexOf('\n## Keys\n');
  if (at < 0) throw new Error('docs/configuration.md has no "## Keys" section');
  const lines = markdown.slice(at).split('\n').slice(2);
  const start = lines.findIndex((l) => l.startsWith('|'));
  const table = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith('|')) break;
    table.push(line);
  }
  const [header, , ...rows] = table;
  const names = cells(header).map((c) => c.toLowerCase());
  const expected = ['key', 'type', 'default', 'meaning', 'accepted'];
  if (names.join() !== expected.join())
    throw new Error(`the Keys table of docs/configuration.md has the columns ${names.join(', ')}, not ${expected.join(', ')}`);
  const byKey = new Map();
  for (const row of rows) {
    const [key, type, fallback, meaning, accepted] = cells(row);
    const path = /^`([^`]+)`$/.exec(key)?.[1];
    if (path === undefined) throw new Error(`a row of the Keys table of docs/configuration.md names no key: ${row}`);
    byKey.set(path, { type, default: fallback, meaning, accepted });
  }
  return byKey;
}

/** Every key path of the schema in its order, each section followed by its keys. */
export function keyPaths(allowedKeys) {
  const out = [];
  const walk = (prefix) => {
    for (const key of allowedKeys[prefix]) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      const section = Object.hasOwn(allowedKeys, path);
      out.push({ path, section });
      if (section) walk(path);
    }
  };
  walk('');
  return out;
}

function valueAt(object, path) {
  return path.split('.').reduce((v, k) => (v === undefined || v === null ? undefined : v[k]), object);
}

/** The store whose directory a path key sets, for the keys the schema leaves without a default. */
function storeOfPathKey(path) {
  const m = /^storage\.(correlations|metadata)\.path$/.exec(path);
  if (m !== null) return m[1];
  return path === 'storage.transit.wal_path' ? 'transit' : null;
}

/** The Default cell: the default as written in a file, and what it resolves to where that differs. */
function defaultCell(path, type, { DEFAULTS, STORE_DIRS, resolved }) {
  const raw = valueAt(DEFAULTS, path);
  if (raw === undefined) {
    const store = storeOfPathKey(path);
    if (store === null) throw new Error(`the schema has no default for ${path}, and it is not a store path`);
    return { written: `\`<dataDir>/${STORE_DIRS[store]}\``, text: `\`<dataDir>/${STORE_DIRS[store]}\`` };
  }
  const written = `\`${Array.isArray(raw) ? `[${raw.join(', ')}]` : String(raw)}\``;
  const value = valueAt(resolved, path);
  if (type === 'size' || type === 'duration') {
    if (typeof value !== 'number') throw new Error(`${path} is a ${type} in docs/configuration.md, but it resolves to ${JSON.stringify(value)}`);
    return { written, text: `${written} = ${value} ${type === 'size' ? 'bytes' : 'ms'}` };
  }
  return { written, text: written };
}

/**
 * The reference table: every key path of the schema with its type, default (and resolved value)
 * and the meaning and accepted values of docs/configuration.md. `sources` holds the text of
 * docs/configuration.md and the schema's exports (DEFAULTS, ALLOWED_KEYS, STORE_DIRS, resolveConfig).
 */
export function renderConfigReference({ configurationMd, DEFAULTS, ALLOWED_KEYS, STORE_DIRS, resolveConfig }) {
  const documented = parseKeysTable(configurationMd);
  const paths = keyPaths(ALLOWED_KEYS);
  const known = new Set(paths.map((p) => p.path));
  const unknown = [...documented.keys()].filter((k) => !known.has(k));
  if (unknown.length > 0) throw new Error(`docs/configuration.md documents keys the schema does not have: ${unknown.join(', ')}`);
  const resolved = resolveConfig({});
  const lines = [
    '<!-- Generated by `node scripts/operations-doc.mjs` from src/config/schema.ts and the Keys table of docs/configuration.md: edit those, then run it. -->',
    '',
    '| Key | Type | Default | Description | Accepted |',
    '|---|---|---|---|---|',
  ];
  for (const { path, section } of paths) {
    const row = documented.get(path);
    if (row === undefined) throw new Error(`docs/configuration.md has no row for the key ${path} of the schema`);
    let fallback = '';
    if (section) {
      if (row.type !== 'mapping') throw new Error(`${path} is a section of the schema, but docs/configuration.md gives its type as ${row.type}`);
    } else {
      const cell = defaultCell(path, row.type, { DEFAULTS, STORE_DIRS, resolved });
      if (!row.default.startsWith(cell.written)) {
        throw new Error(`docs/configuration.md gives the default of ${path} as ${row.default}, but the schema's is ${cell.written}`);
      }
      fallback = cell.text;
    }
    lines.push(`| \`${path}\` | ${row.type} | ${fallback} | ${row.meaning} | ${row.accepted} |`);
  }
  return lines.join('\n');
}

/** `doc` with the text between the config-reference markers replaced by the rendered reference. */
export function renderOperationsDoc(doc, sources) {
  const from = doc.indexOf(START);
  const to = doc.indexOf(END);
  if (from < 0 || to < from) throw new Error(`docs/OPERATIONS.md must hold the markers ${START} and ${END}, in that order`);
  return `${doc.slice(0, from + START.length)}\n${renderConfigReference(sources)}\n${doc.slice(to)}`;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const lib = (p) => import(pathToFileURL(join(root, 'lib', p)).href);
  const { ALLOWED_KEYS, DEFAULTS, STORE_DIRS } = await lib('config/schema.js');
  const { resolveConfig } = await lib('config/index.js');
  const file = join(root, 'docs', 'OPERATIONS.md');
  const doc = readFileSync(file, 'utf8');
  const configurationMd = readFileSync(join(root, 'docs', 'configuration.md'), 'utf8');
  const next = renderOperationsDoc(doc, { configurationMd, DEFAULTS, ALLOWED_KEYS, STORE_DIRS, resolveConfig });
  if (next === doc) console.log('docs/OPERATIONS.md is up to date');
  else {
    writeFileSync(file, next);
    console.log('wrote the configuration reference of docs/OPERATIONS.md');
  }
}
