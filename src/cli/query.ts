/**
 * The query commands: `query`, `aggregate` and `explain` over the correlation store. They open the
 * store (so they wait for no server, but cannot run beside a process that holds it: ERR_LOCKED)
 * and close it when done.
 */
import { promises as fsp } from 'node:fs';

import { tableToIPC } from 'apache-arrow';
import type { Command } from 'commander';

import { rangeArgs } from '../query/time-input.js';
import { TapioError } from '../errors.js';
import type { QueryRecord } from '../correlations/correlations.js';
import { CORRELATION_FIELDS, type CorrelationField } from '../correlations/record.js';
import type { CorrelationQuery, QueryOrder } from '../query/options.js';
import { openFromOptions, printJsonOrLines, type GlobalOptions } from './common.js';

interface RangeFlags {
  since?: string;
  from?: string;
  until?: string;
}

interface QueryFlags extends RangeFlags {
  similarTo?: string;
  embedding?: string;
  threshold?: string;
  k?: string;
  fields?: string;
  order?: string;
  limit?: string;
  format: string;
}

function rangeOf(flags: RangeFlags): { from?: number; to?: number } {
  return rangeArgs(flags, '--');
}

function numberArg(option: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new TapioError('ERR_INVALID_ARGUMENT', `${option} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

/** An embedding file: a JSON array of numbers, or raw little-endian float32 values. */
async function readEmbedding(file: string): Promise<Float32Array | number[]> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `--embedding: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const text = bytes.subarray(0, 64).toString('utf8').trimStart();
  if (text.startsWith('[')) {
    try {
      const v: unknown = JSON.parse(bytes.toString('utf8'));
      if (Array.isArray(v)) return v as number[];
    } catch {
      // reported below
    }
    throw new TapioError('ERR_INVALID_ARGUMENT', `--embedding: ${file} starts like JSON but is not a JSON array of numbers`);
  }
  if (bytes.length % 4 !== 0)
    throw new TapioError(
      'ERR_INVALID_ARGUMENT',
      `--embedding: ${file} is neither a JSON array nor float32 values (${bytes.length} bytes is not a multiple of 4)`,
    );
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

async function queryOf(selector: string | undefined, flags: QueryFlags): Promise<CorrelationQuery> {
  const q: CorrelationQuery = { ...rangeOf(flags) };
  if (selector !== undefined && selector !== '') q.selector = selector;
  if (flags.similarTo !== undefined && flags.embedding !== undefined)
    throw new TapioError('ERR_INVALID_ARGUMENT', '--similar-to and --embedding both say what to compare with; give one');
  const threshold = numberArg('--threshold', flags.threshold);
  const k = numberArg('-k', flags.k);
  if (flags.similarTo !== undefined || flags.embedding !== undefined) {
    q.similar = {
      ...(flags.similarTo !== undefined ? { id: flags.similarTo } : { embedding: await readEmbedding(flags.embedding!) }),
      ...(threshold === undefined ? {} : { threshold }),
      ...(k === undefined ? {} : { k }),
    };
  } else if (threshold !== undefined || k !== undefined) {
    throw new TapioError('ERR_INVALID_ARGUMENT', '--threshold and -k rank by similarity: add --similar-to ID or --embedding FILE');
  }
  if (flags.fields !== undefined) q.fields = flags.fields.split(',').map((f) => f.trim()) as CorrelationField[];
  if (flags.order !== undefined) q.orderBy = flags.order as QueryOrder;
  const limit = numberArg('--limit', flags.limit);
  if (limit !== undefined) q.limit = limit;
  return q;
}

function resourcesText(r: QueryRecord): string {
  if (r.resources === undefined) return '';
  return Object.entries(r.resources)
    .map(([k, v]) => `${k}=${v.length > 3 ? `${v.slice(0, 3).join(',')},+${v.length - 3}` : v.join(',')}`)
    .join(' ');
}

/** Records as aligned text columns (embedding and pattern left out). */
export function recordsTable(records: readonly QueryRecord[]): string[] {
  if (records.length === 0) return ['(no findings)'];
  const cols: Array<[string, (r: QueryRecord) => string]> = [['timestamp', (r) => r.timestamp.toISOString()]];
  const first = records[0]!;
  if (first.score !== undefined) cols.push(['score', (r) => r.score!.toFixed(4)]);
  if (first.id !== undefined) cols.push(['id', (r) => r.id]);
  if (first.type !== undefined) cols.push(['type', (r) => r.type]);
  if (first.severity !== undefined) cols.push(['sev', (r) => String(r.severity)]);
  if (first.confidence !== undefined) cols.push(['conf', (r) => r.confidence.toFixed(2)]);
  if (first.eventCount !== undefined) cols.push(['events', (r) => String(r.eventCount)]);
  if (first.resources !== undefined) cols.push(['resources', resourcesText]);
  return aligned(
    cols.map(([h]) => h),
    records.map((r) => cols.map(([, f]) => f(r))),
  );
}

/** Rows of cells as aligned text under a header. */
export function aligned(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((x, c) => (c === cells.length - 1 ? x : x.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function recordJson(r: QueryRecord): unknown {
  return {
    ...r,
    ...(r.timestamp === undefined ? {} : { timestamp: r.timestamp.toISOString() }),
    ...(r.pattern === undefined ? {} : { pattern: Buffer.from(r.pattern).toString('base64') }),
    ...(r.embedding === undefined ? {} : { embedding: Array.from(r.embedding) }),
  };
}

const FORMATS = ['table', 'json', 'arrow'];
const QUERY_HELP = `label selector (Kubernetes syntax over type, severity, id and resource types, e.g. "type=attack,nodes=node-1"); all findings when left out`;

function addQueryOptions(cmd: Command): Command {
  return cmd
    .argument('[selector]', QUERY_HELP)
    .option('--since <duration>', 'findings from this long ago (15m, 1h, 7d)')
    .option('--from <time>', 'start (ISO date, epoch ms, or a duration ago)')
    .option('--until <time>', 'end, exclusive (ISO date, epoch ms, or a duration ago)')
    .option('--similar-to <id>', 'rank by cosine similarity to the stored finding with this id')
    .option('--embedding <file>', 'rank by cosine similarity to this vector (a JSON array, or raw float32)')
    .option('--threshold <score>', 'keep similarity scores >= this (-1..1)')
    .option('-k, --k <n>', 'keep the k most similar (default 10 without --threshold)')
    .option('--fields <list>', `comma-separated fields (${CORRELATION_FIELDS.join(', ')})`)
    .option('--order <order>', 'timestamp, -timestamp or score')
    .option('--limit <n>', 'at most this many findings');
}

export function registerQueryCommands(program: Command, globals: () => GlobalOptions): void {
  addQueryOptions(program.command('query'))
    .option('--format <format>', 'table, json (JSON lines with --json too) or arrow (an Arrow IPC stream on standard output)', 'table')
    .description('find correlation findings by time range, label selector and embedding similarity')
    .action(async (selector: string | undefined, flags: QueryFlags) => {
      if (!FORMATS.includes(flags.format))
        throw new TapioError('ERR_INVALID_ARGUMENT', `--format must be ${FORMATS.join(', ')}, got ${JSON.stringify(flags.format)}`);
      const q = await queryOf(selector, flags);
      const storage = await openFromOptions(globals(), { create: false });
      try {
        if (flags.format === 'arrow') {
          const table = await storage.correlations.query({ ...q, format: 'arrow' });
          process.stdout.write(tableToIPC(table, 'stream'));
          return;
        }
        const records = await storage.correlations.query({ ...q, format: 'records' });
        if (flags.format === 'json' || globals().json) for (const r of records) process.stdout.write(`${JSON.stringify(recordJson(r))}\n`);
        else for (const line of recordsTable(records)) console.log(line);
      } finally {
        await storage.close();
      }
    });

  addQueryOptions(program.command('explain'))
    .description('run a query and report what it read: segments and row groups pruned and scanned, rows, bytes and time per stage')
    .action(async (selector: string | undefined, flags: QueryFlags) => {
      const q = await queryOf(selector, flags);
      const storage = await openFromOptions(globals(), { create: false });
      try {
        const { query, explain: e } = await storage.correlations.explain(q);
        const ms = (x: number) => `${x.toFixed(1)} ms`;
        printJsonOrLines(globals(), { query, ...e }, [
          `query       ${query}`,
          `segments    ${e.segments.total} in the manifest: ${e.segments.prunedByTime} pruned by time, ${e.segments.prunedByFacts} by their facts, ${e.segments.scanned} scanned`,
          `row groups  ${e.rowGroups.total} in the segments scanned: ${e.rowGroups.prunedByTime} pruned by time, ${e.rowGroups.prunedByFacts} by their types and severities, ${e.rowGroups.scanned} read`,
          `memory      ${e.memoryBatches.total} in-memory batch(es): ${e.memoryBatches.prunedByTime} pruned by time, ${e.memoryBatches.scanned} scanned`,
          `rows        ${e.rows.scanned} scanned, ${e.rows.matched} matched, ${e.rows.scored} scored, ${e.rows.returned} returned`,
          `bytes read  ${e.bytesRead}`,
          `time        scan ${ms(e.ms.scan)}, score ${ms(e.ms.score)}, assemble ${ms(e.ms.assemble)}, total ${ms(e.ms.total)}`,
        ]);
      } finally {
        await storage.close();
      }
    });

  program
    .command('aggregate')
    .argument('[selector]', QUERY_HELP)
    .option('--since <duration>', 'findings from this long ago (15m, 1h, 7d)')
    .option('--from <time>', 'start (ISO date, epoch ms, or a duration ago)')
    .option('--until <time>', 'end, exclusive')
    .option('--group-by <keys>', 'comma-separated group keys: type, severity, or resource types (resources.nodes)')
    .option('--bucket <duration>', 'also group by time buckets of this width (5m, 1h)')
    .option('--measures <list>', 'comma-separated: count, sum|avg|min|max of confidence, severity, eventCount, timeWindow', 'count')
    .description('count and measure findings per group (type, severity, resource names, time bucket)')
    .action(async (selector: string | undefined, flags: RangeFlags & { groupBy?: string; bucket?: string; measures: string }) => {
      const q = {
        ...rangeOf(flags),
        ...(selector === undefined || selector === '' ? {} : { selector }),
        ...(flags.groupBy === undefined ? {} : { groupBy: flags.groupBy.split(',').map((k) => k.trim()) }),
        ...(flags.bucket === undefined ? {} : { bucket: flags.bucket }),
        measures: flags.measures.split(/,(?![^(]*\))/).map((m) => m.trim()),
      };
      const storage = await openFromOptions(globals(), { create: false });
      try {
        const rows = await storage.correlations.aggregate(q);
        const header = rows.length === 0 ? [] : Object.keys(rows[0]!);
        const cell = (v: unknown) =>
          v instanceof Date ? v.toISOString() : v === null ? '-' : typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : String(v);
        printJsonOrLines(
          globals(),
          rows,
          rows.length === 0
            ? ['(no findings)']
            : aligned(
                header,
                rows.map((r) => header.map((h) => cell(r[h]))),
              ),
        );
      } finally {
        await storage.close();
      }
    });
}
