/**
 * `tapio-storage ingest FILE.ndjson`: loads events into the transit WAL without a server (the
 * store must not be open elsewhere), each line stored as its bytes, as POST /v1/events does.
 */
import { createInterface } from 'node:readline';

import type { Command } from 'commander';

import { TapioError } from '../errors.js';
import { lineInput, openFromOptions, printJsonOrLines, type GlobalOptions } from './common.js';
import { Progress } from './progress.js';

export function registerIngestCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('ingest')
    .argument('[file]', 'NDJSON, one JSON object (event) per line; - or nothing for standard input')
    .option('-b, --batch <n>', 'events per append (one group commit each)', (v) => batchArg(v), 1000)
    .description(
      'append events from an NDJSON file to the transit WAL (offline: the store must not be open in a server); a line that is not a JSON object stops the load, saying which, with everything before it stored',
    )
    .action(async (file: string | undefined, opts: { batch: number }) => {
      const { source, total, input } = await lineInput(file);
      const storage = await openFromOptions(globals(), { create: false });
      const progress = new Progress('ingest', { unit: 'bytes', total, quiet: globals().json === true });
      let events = 0;
      let lineNo = 0;
      let firstSeq = 0;
      let lastSeq = 0;
      const started = performance.now();
      try {
        let batch: string[] = [];
        let batchBytes = 0;
        // Appends overlap with reading: up to four batches are on their way to the disk at once.
        const inFlight = new Set<Promise<void>>();
        const flush = async () => {
          if (batch.length === 0) return;
          const records = batch;
          const bytes = batchBytes;
          batch = [];
          batchBytes = 0;
          const p = storage.transit.append(records).then((ack) => {
            if (firstSeq === 0 || ack.firstSeq < firstSeq) firstSeq = ack.firstSeq;
            lastSeq = Math.max(lastSeq, ack.lastSeq);
            events += records.length;
            progress.tick(bytes);
          });
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p)).catch(() => undefined);
          if (inFlight.size >= 4) await Promise.race(inFlight);
        };
        for await (const line of createInterface({ input, crlfDelay: Infinity })) {
          lineNo++;
          const text = line.trim();
          if (text === '') continue;
          let value: unknown;
          let problem: string | null = null;
          try {
            value = JSON.parse(text);
            if (value === null || typeof value !== 'object' || Array.isArray(value)) problem = 'is not a JSON object; each event is one object per line';
          } catch (err) {
            problem = `is not valid JSON (${(err as Error).message})`;
          }
          if (problem !== null) {
            // What came before the bad line is stored, as the message says.
            await flush();
            await Promise.all(inFlight);
            throw new TapioError('ERR_VALIDATION', `${source} line ${lineNo} ${problem}; the ${events} event(s) before it are stored`, {
              details: { line: lineNo },
            });
          }
          batch.push(text);
          batchBytes += line.length + 1;
          if (batch.length >= opts.batch) await flush();
        }
        await flush();
        await Promise.all(inFlight);
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
      printJsonOrLines(globals(), { events, lines: lineNo, firstSeq, lastSeq, seconds }, [
        events === 0 ? `no events in ${source}` : `stored ${events} event(s) from ${source} as seq ${firstSeq}..${lastSeq} in ${seconds.toFixed(1)} s`,
      ]);
    });
}

function batchArg(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1 || n > 100_000)
    throw new TapioError('ERR_INVALID_ARGUMENT', `--batch must be a whole number from 1 to 100000, got ${JSON.stringify(value)}`);
  return n;
}
