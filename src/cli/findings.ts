/**
 * The correlation store's commands: `findings stats` and `findings verify` (read-only, safe
 * beside a running store), `findings import` (JSON lines, with progress on a terminal) and `gen`
 * (realistic findings as JSON lines).
 */
import { createInterface } from 'node:readline';

import type { Command } from 'commander';

import { TapioError } from '../errors.js';
import { FindingGenerator } from '../correlations/generator.js';
import type { CorrelationInput } from '../correlations/record.js';
import { manifestOf, verifyFindings } from '../correlations/verify.js';
import { existingStoreConfig, humanBytes, lineInput, openFromOptions, printJsonOrLines, type GlobalOptions } from './common.js';
import { Progress } from './progress.js';

/** One finding as a JSON line: pattern in base64, timestamp in epoch milliseconds (or an ISO string on input). */
export function findingToJson(f: CorrelationInput): string {
  return JSON.stringify({
    ...f,
    timestamp: f.timestamp instanceof Date ? f.timestamp.getTime() : f.timestamp,
    pattern: Buffer.from(f.pattern ?? new Uint8Array(0)).toString('base64'),
    embedding: Array.from(f.embedding),
  });
}

function findingFromJson(line: string, lineNo: number, source: string): CorrelationInput {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(line) as Record<string, unknown>;
  } catch (err) {
    throw new TapioError('ERR_VALIDATION', `${source} line ${lineNo} is not JSON (${(err as Error).message}); nothing of its batch was stored`, {
      details: { line: lineNo },
    });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new TapioError('ERR_VALIDATION', `${source} line ${lineNo} is not a JSON object; nothing of its batch was stored`, { details: { line: lineNo } });
  }
  if (typeof v.timestamp === 'string') v.timestamp = new Date(v.timestamp);
  if (typeof v.pattern === 'string') v.pattern = Buffer.from(v.pattern, 'base64');
  return v as unknown as CorrelationInput;
}

export function registerFindingsCommands(program: Command, globals: () => GlobalOptions): void {
  const findings = program.command('findings').description('the correlation store: stats and verify only read (safe beside a running store); import inserts');

  findings
    .command('stats')
    .description('segments, rows and bytes per level and per day, from the manifest')
    .action(async () => {
      const config = await existingStoreConfig(globals(), []);
      const dir = config.storage.correlations.path;
      const m = await manifestOf(dir);
      const levels = new Map<number, { segments: number; rows: number; bytes: number; embeddingBytes: number }>();
      const days = new Map<string, number>();
      for (const s of m.segments) {
        const l = levels.get(s.level) ?? { segments: 0, rows: 0, bytes: 0, embeddingBytes: 0 };
        l.segments++;
        l.rows += s.rows;
        l.bytes += s.bytes;
        l.embeddingBytes += s.embeddingBytes;
        levels.set(s.level, l);
        days.set(s.day, (days.get(s.day) ?? 0) + s.rows);
      }
      const rows = m.segments.reduce((n, s) => n + s.rows, 0);
      const data = {
        dir,
        segments: m.segments.length,
        rows,
        walSeq: m.walSeq,
        compactions: m.compactions,
        embeddingDim: m.embeddingDim,
        findingTypes: m.findingTypes,
        levels: [...levels].sort((a, b) => a[0] - b[0]).map(([level, l]) => ({ level, ...l })),
        days: [...days].sort().map(([day, n]) => ({ day, rows: n })),
      };
      printJsonOrLines(globals(), data, [
        `correlations ${dir}`,
        `  segments     ${m.segments.length}, ${rows} finding(s) in segments (findings not yet flushed are in the WAL: the next open replays them)`,
        ...data.levels.map(
          (l) =>
            `  L${l.level}           ${l.segments} segment(s), ${l.rows} row(s), Parquet ${humanBytes(l.bytes)}, embeddings ${humanBytes(l.embeddingBytes)}`,
        ),
        `  days         ${data.days.length === 0 ? 'none' : `${data.days[0]!.day} .. ${data.days.at(-1)!.day} (${data.days.length})`}`,
        `  compactions  ${m.compactions}`,
      ]);
    });

  findings
    .command('verify')
    .description("check the manifest and every segment's size, CRC32C and footer; exit status 1 when anything is damaged")
    .action(async () => {
      const config = await existingStoreConfig(globals(), []);
      const dir = config.storage.correlations.path;
      let progress: Progress | null = null;
      const report = await verifyFindings(dir, (done, total) => {
        progress ??= new Progress('verify', { unit: 'segments', total, quiet: globals().json === true || total === 0 });
        progress.tick(done - progress.count);
      });
      (progress as Progress | null)?.done();
      printJsonOrLines(globals(), report, [
        `${dir}: ${report.segments} segment(s), ${report.rows} row(s), ${humanBytes(report.bytes)} checked`,
        ...report.problems.map((p) => `DAMAGE ${p.file}: ${p.problem}`),
        ...report.unlisted.map((f) => `not in the manifest (the next open removes it): ${f}`),
        report.ok
          ? 'ok'
          : "damaged: restore the files from a copy, or open with recovery: 'salvage' (TapioStorage.open(config, { correlations: { recovery: 'salvage' } })) to set damaged segments aside",
      ]);
      if (!report.ok) process.exitCode = 1;
    });

  findings
    .command('compact')
    .option('--all', "merge each day's segments now whatever their size (L0 into one L1, then L1 into one L2)")
    .description('run the compactions l0_size and l1_size call for now (or, with --all, every merge there is), and wait for them')
    .action(async (opts: { all?: boolean }) => {
      const storage = await openFromOptions(globals(), { create: false });
      let progress: Progress | null = null;
      try {
        const result = await storage.correlations.compact({
          all: opts.all === true,
          onProgress: (done, total) => {
            progress ??= new Progress('compact', { unit: 'merges', total, quiet: globals().json === true || total === 0 });
            progress.setTotal(total);
            progress.tick(done - progress.count);
          },
        });
        (progress as Progress | null)?.done();
        printJsonOrLines(globals(), result, [
          result.compactions === 0
            ? `nothing to compact (${result.segmentsAfter} segment(s))${opts.all === true ? '' : '; --all merges segments below l0_size and l1_size too'}`
            : `${result.compactions} compaction(s): ${result.segmentsBefore} segment(s) before, ${result.segmentsAfter} after, in ${(result.ms / 1000).toFixed(1)} s`,
        ]);
      } catch (err) {
        (progress as Progress | null)?.abort();
        throw err;
      } finally {
        await storage.close();
      }
    });

  findings
    .command('import')
    .argument('[file]', 'JSON lines, one finding per line (as `tapio-storage gen` writes them); - or nothing for standard input')
    .option('-b, --batch <n>', 'findings per insert (one WAL record each)', (v) => wholeNumberArg('--batch', v), 1000)
    .description('insert findings from JSON lines; a bad line refuses its batch (nothing of it stored) and stops the import, saying which line')
    .action(async (file: string | undefined, opts: { batch: number }) => {
      const { source, total, input } = await lineInput(file);
      const storage = await openFromOptions(globals(), { create: false });
      const progress = new Progress('import', { unit: 'bytes', total, quiet: globals().json === true });
      let imported = 0;
      let lineNo = 0;
      let bytesRead = 0;
      const started = performance.now();
      try {
        let batch: CorrelationInput[] = [];
        let firstLine = 1;
        const flush = async () => {
          if (batch.length === 0) return;
          try {
            await storage.correlations.insert(batch);
          } catch (err) {
            if (err instanceof TapioError && err.code === 'ERR_VALIDATION' && typeof err.details?.index === 'number') {
              throw new TapioError('ERR_VALIDATION', `${source} line ${firstLine + err.details.index}: ${err.message}`, { cause: err, details: err.details });
            }
            throw err;
          }
          imported += batch.length;
          batch = [];
          progress.tick(bytesRead - progress.count);
        };
        for await (const line of createInterface({ input, crlfDelay: Infinity })) {
          lineNo++;
          bytesRead += line.length + 1;
          if (line.trim() === '') continue;
          if (batch.length === 0) firstLine = lineNo;
          batch.push(findingFromJson(line, lineNo, source));
          if (batch.length >= opts.batch) await flush();
        }
        await flush();
        // Only a load that went through ends its progress with a line: after a failure the error
        // is the first thing on standard error.
        progress.done();
      } catch (err) {
        progress.abort();
        throw err;
      } finally {
        await storage.close();
      }
      const seconds = (performance.now() - started) / 1000;
      printJsonOrLines(globals(), { imported, lines: lineNo, seconds }, [`imported ${imported} finding(s) from ${source} in ${seconds.toFixed(1)} s`]);
    });

  program
    .command('gen')
    .option('-n, --count <n>', 'how many findings', (v) => wholeNumberArg('--count', v), 1000)
    .option('-s, --seed <n>', 'seed (the same seed gives the same findings)', (v) => wholeNumberArg('--seed', v), 1)
    .option('--dim <n>', 'embedding dimension (default: the configuration’s embedding_dim)', (v) => wholeNumberArg('--dim', v))
    .option('--rate <n>', 'findings per second of simulated time, from the start of today (UTC)', (v) => wholeNumberArg('--rate', v), 1000)
    .description('write realistic findings as JSON lines to standard output (skewed types, tens of thousands of pods, clustered embeddings)')
    .action(async (opts: { count: number; seed: number; dim?: number; rate: number }) => {
      let dim = opts.dim;
      if (dim === undefined) {
        const { resolvedConfigFromOptions } = await import('./common.js');
        dim = (await resolvedConfigFromOptions(globals())).storage.correlations.embedding_dim;
      }
      const gen = new FindingGenerator({ seed: opts.seed, embeddingDim: dim, ratePerSecond: opts.rate });
      // Progress goes to standard error, and only on a terminal: the findings are on standard output.
      const progress = new Progress('gen', { unit: 'findings', total: opts.count, quiet: globals().json === true || process.stderr.isTTY !== true });
      for (let done = 0; done < opts.count;) {
        const n = Math.min(1000, opts.count - done);
        const text = gen.next(n).map(findingToJson).join('\n') + '\n';
        if (!process.stdout.write(text)) await new Promise((r) => process.stdout.once('drain', r));
        done += n;
        progress.tick(n);
      }
      progress.done();
    });
}

function wholeNumberArg(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new TapioError('ERR_INVALID_ARGUMENT', `${option} must be a whole number >= 1, got ${JSON.stringify(value)}`);
  return n;
}
