/**
 * `tapio-storage serve` (and `npm start`): the HTTP service over the data directory, with the
 * correlation pipeline, an admin key on first start, and a graceful stop on SIGINT or SIGTERM.
 */
import { constants, promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';

import type { Command } from 'commander';

import { capabilities } from '../capabilities.js';
import { TapioError } from '../errors.js';
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
 * Creates the admin user and its key when the store has no user named admin, and writes the key
 * to `<dataDir>/admin.key` (mode 0600, created exclusively). Returns the file, and whether it
 * was written now.
 */
export async function ensureAdminKey(storage: TapioStorage): Promise<{ file: string; created: boolean }> {
  const file = join(storage.config.dataDir, ADMIN_KEY_FILE);
  const users = storage.metadata.users;
  if ((await users.getByName(ADMIN_USER)) !== null) return { file, created: false };
  // The file first (exclusive, private), then the user and key, then the key into the file: a
  // crash in between leaves an empty file and no admin, and the next start tries again.
  const handle = await fsp.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    await handle.chmod(0o600);
    const created = await users.create({ name: ADMIN_USER, roles: ['admin'] }, { apiKey: { name: 'admin (first start)' } });
    await handle.writeFile(`${created.apiKey.key}\n`);
    await handle.datasync();
  } finally {
    await handle.close();
  }
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
  const say = (line: string) => console.log(line);
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
    const correlator = await loadCorrelator(flags.correlator === undefined || spec === 'builtin' || spec === 'none' ? spec : resolve(spec));
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
        process.exit(130);
      }
      stopping = true;
      say(`${signal}: stopping (${running.inflight} request(s) in progress; ${signal} again exits at once)`);
      void (async () => {
        await running.close();
        await flow?.close();
        await storage.close();
        say('stopped; every acknowledged event and finding is on disk');
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
