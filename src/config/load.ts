/**
 * Turns a configuration object or YAML file into a {@link TapioConfig}, or into one ERR_CONFIG
 * error that lists every problem. Reads the file and nothing else: no directory is created or
 * touched here.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import { isMap, isScalar, LineCounter, parseDocument, stringify, type Document, type Node } from 'yaml';
import type { z } from 'zod';

import { TapioError } from '../errors.js';
import { ALLOWED_KEYS, configSchema, DEFAULTS, STORE_DIRS, type TapioConfig } from './schema.js';
import { checkSize, describeValue, formatDuration, formatSize } from './units.js';

/** One thing wrong with a configuration. */
export interface ConfigProblem {
  /** Dotted key path, such as `storage.transit.retention`; '' for the whole file or object. */
  path: string;
  /** What is wrong: `got "1x", expected a duration such as 30s, 15m, 1h or 30d`. */
  message: string;
  /** 1-based line in the YAML file, when the configuration came from one. */
  line?: number;
  /** 1-based column in the YAML file, when the configuration came from one. */
  column?: number;
}

/** Options of {@link resolveConfig}. */
export interface ResolveOptions {
  /** Directory that relative paths are resolved against; default `process.cwd()` (loadConfig: the file's directory). */
  baseDir?: string;
  /** Where the configuration came from (a file path), named in error messages. */
  source?: string;
}

type Path = readonly PropertyKey[];

function dotted(path: Path): string {
  return path.map(String).join('.');
}

/** The value at `path` in `input`, or undefined when a step is missing or not an object. */
function valueAt(input: unknown, path: Path): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, '');
}

/** Optimal string alignment distance (Levenshtein plus adjacent swaps). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** The message for a key that is not allowed at `parent`, with a suggestion when one is close. */
function unknownKeyMessage(parent: string, key: string): string {
  const allowed = ALLOWED_KEYS[parent] ?? [];
  const normalized = normalizeKey(key);
  let suggestion = allowed.find((candidate) => normalizeKey(candidate) === normalized);
  if (suggestion === undefined) {
    let bestDistance = 3;
    for (const candidate of allowed) {
      const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
      if (distance < bestDistance) {
        bestDistance = distance;
        suggestion = candidate;
      }
    }
  }
  if (suggestion !== undefined) return `unknown key; did you mean \`${suggestion}\`?`;
  const elsewhere = Object.entries(ALLOWED_KEYS)
    .filter(([level, keys]) => level !== parent && keys.some((candidate) => normalizeKey(candidate) === normalized))
    .map(([level]) => (level === '' ? 'the top level' : level));
  if (elsewhere.length > 0) return `unknown key here; it belongs under ${elsewhere.join(' or ')}`;
  return `unknown key; the keys allowed here are ${allowed.join(', ')}`;
}

/** Problems about a key itself rather than its value (located at the key in a YAML file). */
const keyProblems = new WeakSet<ConfigProblem>();
/** The key path of each problem as segments (a key may itself contain a dot). */
const problemKeys = new WeakMap<ConfigProblem, readonly string[]>();

function problemAt(path: Path, message: string): ConfigProblem {
  const problem = { path: dotted(path), message };
  problemKeys.set(problem, path.map(String));
  return problem;
}

/** One problem per zod issue (one per key for unrecognized keys). */
function problemsFromIssues(issues: readonly z.core.$ZodIssue[], input: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const problem = problemAt([...issue.path, key], unknownKeyMessage(dotted(issue.path), key));
        keyProblems.add(problem);
        problems.push(problem);
      }
      continue;
    }
    problems.push(problemAt(issue.path, `got ${describeValue(valueAt(input, issue.path))}, expected ${issue.message}`));
  }
  return problems;
}

/** Checks that need two keys at once; run on the raw input so they are reported alongside the rest. */
function crossKeyProblems(input: unknown): ConfigProblem[] {
  const compaction = ['storage', 'correlations', 'compaction'];
  const l0Raw = valueAt(input, [...compaction, 'l0_size']);
  const l1Raw = valueAt(input, [...compaction, 'l1_size']);
  const l0 = checkSize(l0Raw ?? DEFAULTS.storage.correlations.compaction.l0_size);
  const l1 = checkSize(l1Raw ?? DEFAULTS.storage.correlations.compaction.l1_size);
  if (!l0.ok || !l1.ok || l1.value > l0.value) return [];
  const got = l1Raw === undefined ? `the default ${describeValue(DEFAULTS.storage.correlations.compaction.l1_size)}` : describeValue(l1Raw);
  return [problemAt([...compaction, 'l1_size'], `got ${got}, expected a size greater than compaction.l0_size (${formatSize(l0.value)})`)];
}

function problemLine(problem: ConfigProblem): string {
  if (problem.path === '') {
    const where = problem.line === undefined ? '(top level)' : `line ${problem.line}, column ${problem.column ?? 1}`;
    return `  ${where}: ${problem.message}`;
  }
  const where = problem.line === undefined ? '' : `line ${problem.line}: `;
  return `  ${where}${problem.path}: ${problem.message}`;
}

/** The one ERR_CONFIG error for a list of problems. */
function configError(problems: ConfigProblem[], source: string | undefined, cause?: unknown): TapioError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const header = source === undefined ? `Invalid configuration (${count}):` : `Invalid configuration in ${source} (${count}):`;
  const message = [header, ...problems.map(problemLine), 'Nothing was created or touched; docs/configuration.md lists every key.'].join('\n');
  return new TapioError('ERR_CONFIG', message, {
    cause,
    details: source === undefined ? { problems } : { problems, source },
  });
}

function fileError(source: string, problem: string, cause: unknown): TapioError {
  return new TapioError('ERR_CONFIG', `${problem}. Nothing was created or touched.`, {
    cause,
    details: { problems: [{ path: '', message: problem }], source },
  });
}

/**
 * Validates a configuration object and resolves it: defaults filled in, sizes in bytes,
 * durations in milliseconds, `ring_capacity` rounded up to a power of two, store paths placed
 * under `dataDir` when not set, and every path absolute. `undefined` or `null` is the all-default
 * configuration. Pure: nothing on disk is read, created or touched.
 *
 * @throws TapioError `ERR_CONFIG` listing every problem (key path, value given, what was
 *   expected), with `details.problems` as {@link ConfigProblem}s.
 * @example
 * ```ts
 * const config = resolveConfig({ dataDir: '/var/lib/tapio' });
 * config.storage.transit.wal_path;      // '/var/lib/tapio/wal'
 * config.storage.transit.ring_capacity; // 67108864 (64MB rounded up to 64MiB)
 *
 * resolveConfig({ storage: { transit: { retention: '1x' } } });
 * // throws ERR_CONFIG: storage.transit.retention: got "1x", expected a duration such as 30s, 15m, 1h or 30d; ...
 * ```
 */
export function resolveConfig(input: unknown, options: ResolveOptions = {}): TapioConfig {
  const checked = check(input);
  if (!checked.ok) throw configError(checked.problems, options.source);
  return build(checked.parsed, options);
}

type Parsed = z.output<typeof configSchema>;

function check(input: unknown): { ok: true; parsed: Parsed } | { ok: false; problems: ConfigProblem[] } {
  const result = configSchema.safeParse(input ?? {});
  const problems = [...(result.success ? [] : problemsFromIssues(result.error.issues, input)), ...crossKeyProblems(input)];
  if (result.success && problems.length === 0) return { ok: true, parsed: result.data };
  return { ok: false, problems };
}

function build(parsed: Parsed, options: ResolveOptions): TapioConfig {
  const base = resolve(options.baseDir ?? process.cwd());
  const dataDir = resolve(base, parsed.dataDir);
  const place = (path: string | undefined, dir: string) => (path === undefined ? join(dataDir, dir) : resolve(base, path));
  const { correlations, metadata, transit } = parsed.storage;
  return {
    dataDir,
    storage: {
      correlations: {
        type: correlations.type,
        path: place(correlations.path, STORE_DIRS.correlations),
        active_memory: correlations.active_memory,
        wal_enabled: correlations.wal_enabled,
        compaction: { l0_size: correlations.compaction.l0_size, l1_size: correlations.compaction.l1_size },
        retention: correlations.retention,
        embedding_dim: correlations.embedding_dim,
        finding_types: correlations.finding_types,
      },
      metadata: {
        type: metadata.type,
        path: place(metadata.path, STORE_DIRS.metadata),
        in_memory: metadata.in_memory,
        compression: metadata.compression,
      },
      transit: {
        wal_path: place(transit.wal_path, STORE_DIRS.transit),
        retention: transit.retention,
        direct_io: transit.direct_io,
        ring_capacity: transit.ring_capacity,
        segment_size: transit.segment_size,
      },
    },
    server: {
      ...parsed.server,
      // A module path is resolved like a store path; the two names are kept as written.
      correlator:
        parsed.server.correlator === 'builtin' || parsed.server.correlator === 'none' ? parsed.server.correlator : resolve(base, parsed.server.correlator),
    },
  };
}

/** Where the key (or its value) at `path` starts in the YAML source. */
function locate(doc: Document, counter: LineCounter, path: readonly string[], atKey: boolean): { line: number; column: number } | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined;
  for (let i = 0; i < path.length; i++) {
    const pair = isMap(node) ? node.items.find((item) => isScalar(item.key) && String(item.key.value) === path[i]) : undefined;
    if (pair === undefined) break; // not written (a default): point at the nearest key that is
    offset = (pair.key as Node).range?.[0] ?? offset;
    if (atKey && i === path.length - 1) break;
    node = pair.value;
    if (i === path.length - 1) offset = (pair.value as Node | null)?.range?.[0] ?? offset;
  }
  if (offset === undefined) return undefined;
  const { line, col } = counter.linePos(offset);
  return { line, column: col };
}

/**
 * Parses YAML text as a configuration and resolves it with {@link resolveConfig}. An empty
 * document is the all-default configuration. Problems carry the line and column they were
 * found at.
 *
 * @throws TapioError `ERR_CONFIG` for a YAML syntax error (with line and column) or any
 *   problem resolveConfig finds.
 * @example
 * ```ts
 * const config = parseConfigYaml('storage:\n  transit: { retention: 2h }\n');
 * config.storage.transit.retention; // 7200000
 * ```
 */
export function parseConfigYaml(text: string, options: ResolveOptions = {}): TapioConfig {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error): ConfigProblem => {
      const firstLine = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      const what = error.code === 'MULTIPLE_DOCS' ? 'the file holds more than one YAML document; a configuration is one document' : firstLine;
      const position = error.linePos?.[0];
      const problem: ConfigProblem = { path: '', message: `YAML syntax error: ${what}` };
      if (position !== undefined) {
        problem.line = position.line;
        problem.column = position.col;
      }
      return problem;
    });
    throw configError(problems, options.source);
  }
  let input: unknown;
  try {
    input = doc.toJS();
  } catch (error) {
    const problem = { path: '', message: `YAML error: ${error instanceof Error ? error.message : String(error)}` };
    throw configError([problem], options.source, error);
  }
  const checked = check(input);
  if (!checked.ok) {
    for (const problem of checked.problems) {
      const keys = problemKeys.get(problem) ?? [];
      const where = keys.length === 0 ? undefined : locate(doc, counter, keys, keyProblems.has(problem));
      if (where !== undefined) {
        problem.line = where.line;
        problem.column = where.column;
      }
    }
    const byLine = [...checked.problems].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    throw configError(byLine, options.source);
  }
  return build(checked.parsed, options);
}

/**
 * Reads a YAML configuration file and resolves it. Relative paths in the file (`dataDir`, store
 * paths) are resolved against the file's directory, so the file means the same wherever it is
 * loaded from; `options.baseDir` overrides that. Only the file is read; nothing is created or
 * touched.
 *
 * @throws TapioError `ERR_CONFIG` when the file is missing or unreadable, is not valid YAML
 *   (with line and column), or has any problem resolveConfig finds; the message names the file.
 * @example
 * ```ts
 * const config = await loadConfig('./tapio.yaml');
 * console.log(config.storage.correlations.path);
 * ```
 */
export async function loadConfig(path: string, options: Omit<ResolveOptions, 'source'> = {}): Promise<TapioConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw fileError(path, `Configuration file not found: ${path} (looked at ${resolve(path)})`, error);
    if (code === 'EISDIR') throw fileError(path, `Configuration file ${path} is a directory; give the path of a YAML file`, error);
    throw fileError(path, `Cannot read configuration file ${path}: ${(error as Error).message}`, error);
  }
  return parseConfigYaml(text, { ...options, baseDir: options.baseDir ?? dirname(resolve(path)), source: path });
}

/**
 * Prints a resolved configuration as YAML, sizes and durations in their shortest exact form
 * (`ring_capacity: 64MiB`), paths absolute. Loading the output gives the same configuration.
 *
 * @example
 * ```ts
 * console.log(formatConfig(resolveConfig({ dataDir: '/srv/tapio' })));
 * // dataDir: /srv/tapio
 * // storage:
 * //   correlations:
 * //     type: frostdb
 * //     ...
 * ```
 */
export function formatConfig(config: TapioConfig): string {
  const { correlations, metadata, transit } = config.storage;
  return stringify({
    dataDir: config.dataDir,
    storage: {
      correlations: {
        type: correlations.type,
        path: correlations.path,
        active_memory: formatSize(correlations.active_memory),
        wal_enabled: correlations.wal_enabled,
        compaction: { l0_size: formatSize(correlations.compaction.l0_size), l1_size: formatSize(correlations.compaction.l1_size) },
        retention: formatDuration(correlations.retention),
        embedding_dim: correlations.embedding_dim,
        finding_types: correlations.finding_types,
      },
      metadata: { ...metadata },
      transit: {
        wal_path: transit.wal_path,
        retention: formatDuration(transit.retention),
        direct_io: transit.direct_io,
        ring_capacity: formatSize(transit.ring_capacity),
        segment_size: formatSize(transit.segment_size),
      },
    },
    server: {
      ...config.server,
      max_body: formatSize(config.server.max_body),
      max_line: formatSize(config.server.max_line),
      request_timeout: formatDuration(config.server.request_timeout),
    },
  });
}
