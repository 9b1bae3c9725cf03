/**
 * `tapio-storage serve` (and `npm start`): the HTTP service over the data directory, with the
 * correlation pipeline, an admin key on first start, and a graceful stop on SIGINT or SIGTERM.
 */
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';

import type { Command } from 'commander';

import { capabilities } from '../capabilities.js';
import { TapioError } from '../errors.js';
import { writeFileAtomic } from '../fs/durable.js';
import { loadCorrelator, Pipeline } from '../server/pipeline.js';
import { Service } from '../server/service.js';
import type { TapioStorage } from '../storage.js';
import { openFromOptions, type GlobalOptions } from './common.js';

/** The file the first start writes the admin key to, in the data directory. */
export const ADMIN_KEY_FILE = 'admin.key';
const ADMIN_USER = 'admin';

interface ServeFlags {
  host?: string;
  port?: string;
  correlator?: string;
}

/**
 * Makes sure `<dataDir>/admin.key` holds a live key of the admin user: on the first start it
 * creates the user named admin (role admin) with a key; when the user exists but the file is
 * missing or empty (a crash between the two, or a deleted file), it issues the admin a new key.
 * The file is written whole or not at all (a temporary file, fdatasync, rename), mode 0600.
 * Returns the file, and whether a key was written now.
 */
export async function ensureAdminKey(storage: TapioStorage): Promise<{ file: string; created: boolean }> {
  const file = join(storage.config.dataDir, ADMIN_KEY_FILE);
  const users = storage.metadata.users;
  const existing = await users.getByName(ADMIN_USER);
  if (existing !== null) {
    const text = await fsp.readFile(file, 'utf8').catch(() => '');
    if (text.trim() !== '') return { file, created: false };
    const { key } = await storage.metadata.apiKeys.create(existing.id, { name: `admin (re-issued ${new Date().toISOString()})` });
    await writeFileAtomic(file, `${key}\n`, { mode: 0o600 });
    return { file, created: true };
  }
  const created = await users.create({ name: ADMIN_USER, roles: ['admin'] }, { apiKey: { name: 'admin (first start)' } });
  await writeFileAtomic(file, `${created.apiKey.key}\n`, { mode: 0o600 });
  return { file, created: true };
}

export function registerServeCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('serve')
    .description('serve the HTTP API on the data directory (created when missing): ingest, queries, users and keys, metrics; runs the correlation pipeline')
    .option('--host <host>', 'address to listen on (default 127.0.0.1, or server.host)')
    .option('--port <port>', 'TCP port (default 7700, or server.port; 0 picks a free one)')
    .option('--correlator <spec>', "'builtin', 'none', or the path of a correlator module (default server.correlator)")
    .action(async (flags: ServeFlags) => {
      await serve(globals(), flags);
    });
}

async function serve(opts: GlobalOptions, flags: ServeFlags): Promise<void> {
  // With --json: one JSON line when it serves and one when it stopped (for scripts and supervisors).
  const say = (line: string) => {
    if (opts.json !== true) console.log(line);
  };
  const event = (data: Record<string, unknown>) => {
    if (opts.json === true) console.log(JSON.stringify(data));
  };
  let port: number | undefined;
  if (flags.port !== undefined) {
    port = Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new TapioError('ERR_INVALID_ARGUMENT', `--port must be a whole number from 0 to 65535, got ${JSON.stringify(flags.port)}`);
  }
  const storage = await openFromOptions(opts, { create: true });
  let service: Service | null = null;
  let pipeline: Pipeline | null = null;
  try {
    const config = storage.config;
    const spec = flags.correlator ?? config.server.correlator;
    // A module path on the command line is relative to the current directory (in a file: to the file's).
    // The correlator runs in a thread of its own: its batches would otherwise hold the event loop
    // (and every request) 20-60 ms at a time.
    const correlator = await loadCorrelator(flags.correlator === undefined || spec === 'builtin' || spec === 'none' ? spec : resolve(spec), { thread: true });
    const admin = await ensureAdminKey(storage);
    if (correlator !== null) {
      pipeline = await Pipeline.start(storage, correlator, {
        onBatch: (events, findings) => {
          service?.metrics.pipelineEvents.inc({}, events);
          service?.metrics.pipelineFindings.inc({}, findings);
        },
      });
    }
    service = await Service.start(storage, {
      ...(flags.host === undefined ? {} : { host: flags.host }),
      ...(port === undefined ? {} : { port }),
      pipeline,
    });
    const caps = capabilities();
    say(`tapio-storage ${caps.version} serving ${config.dataDir} on ${service.url}`);
    say(`  ${caps.native ? `native path (SIMD ${caps.simd}, direct I/O ${caps.directIo ? 'available' : 'off'})` : `TypeScript path: ${caps.nativeReason}`}`);
    say(`  transit seq ${storage.transit.oldestSeq}..${storage.transit.lastSeq}; ${storage.correlations.stats().rows} findings`);
    say(pipeline === null ? '  pipeline: off (server.correlator: none)' : `  pipeline: ${spec} correlator, resuming after transit seq ${pipeline.position}`);
    if (admin.created) say(`  admin API key written to ${admin.file} (mode 0600; it is shown nowhere else)`);
    else say(`  admin key: ${admin.file} (written at the first start)`);
    say(`  try: curl -s -H "Authorization: Bearer $(cat ${admin.file})" '${service.url}/v1/findings?since=1h&limit=5'`);
    say('  stop with Ctrl-C (SIGINT) or SIGTERM: requests in progress finish, then the stores close');
    event({
      event: 'serving',
      url: service.url,
      dataDir: config.dataDir,
      native: caps.native,
      adminKeyFile: admin.file,
      adminKeyCreated: admin.created,
      pipeline: pipeline === null ? null : { correlator: spec, position: pipeline.position },
    });
  } catch (err) {
    await service?.close().catch(() => undefined);
    await pipeline?.close().catch(() => undefined);
    await storage.close();
    throw err;
  }
  const running = service;
  const flow = pipeline;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        // Everything acknowledged is durable already (an answer follows the fdatasync).
        say(`${signal} again: exiting now`);
        running.destroy();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      stopping = true;
      say(`${signal}: stopping (${running.inflight} request(s) in progress; ${signal} again exits at once)`);
      void (async () => {
        await running.close();
        await flow?.close();
        await storage.close();
        say('stopped; every acknowledged event and finding is on disk');
        event({ event: 'stopped' });
        resolve();
      })().catch((err: unknown) => {
        console.error(`error while stopping: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
  });
}
