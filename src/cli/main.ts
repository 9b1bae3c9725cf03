#!/usr/bin/env node
/**
 * The `tapio-storage` command line. Every command has --help; errors print their stable code
 * and what to fix, and exit with status 1.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { Command } from 'commander';

import { capabilities } from '../capabilities.js';
import { formatConfig, loadConfig } from '../config/index.js';
import { readMarker } from '../data-dir.js';
import { TapioError } from '../errors.js';
import { API_KEY_PREFIX, KEY_ID_LENGTH, parseApiKey } from '../metadata/api-key-format.js';
import type { MetadataStore, User } from '../metadata/index.js';
import { userIdArg } from '../metadata/schemas.js';
import { ID_FILE_NAME } from '../transit/format.js';
import { probeSync, SYNC_PROBE_MODE_TEXT, SYNC_PROBE_MODES, type SyncProbeMode } from '../transit/sync-probe.js';
import { runDemo, type DemoFlags } from './demo.js';
import { registerFindingsCommands } from './findings.js';
import { registerQueryCommands } from './query.js';
import { registerIngestCommand } from './ingest.js';
import { registerServeCommand } from './serve.js';
import {
  existingStoreConfig,
  humanBytes,
  openFromOptions,
  printJsonOrLines,
  resolvedConfigFromOptions,
  type GlobalOptions,
  storeSizes,
  storeSizesOf,
  withMetadata,
} from './common.js';

const program = new Command();
program
  .name('tapio-storage')
  .description('Embedded storage for Tapio: transit WAL, correlation findings and metadata in one data directory.')
  .option('-c, --config <file>', 'YAML configuration file')
  .option('-d, --data-dir <dir>', "data directory (default ./data, or the configuration file's dataDir)")
  .option('--json', 'print machine-readable JSON')
  .showHelpAfterError();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();

program
  .command('init')
  .option('--force', 'create the store in a directory that is not empty and has no TAPIO_STORAGE marker')
  .description('create the data directory and its stores (safe to run again: an existing store is opened and left as it is)')
  .action(async (opts: { force?: boolean }) => {
    // Read before the open, to say whether it created the store; the open reports any problem.
    const existed = (await readMarker((await resolvedConfigFromOptions(globals())).dataDir).catch(() => null)) !== null;
    const storage = await openFromOptions(globals(), { create: true, force: opts.force === true });
    try {
      const c = storage.config;
      const metadata = c.storage.metadata.in_memory ? null : c.storage.metadata.path;
      printJsonOrLines(
        globals(),
        { dataDir: c.dataDir, created: !existed, metadata, transit: c.storage.transit.wal_path, correlations: c.storage.correlations.path },
        [
          `${existed ? 'a store exists already at' : 'initialised'} ${c.dataDir}`,
          `  metadata      ${metadata ?? '(in memory: nothing on disk)'}`,
          `  transit WAL   ${c.storage.transit.wal_path}`,
          `  correlations  ${c.storage.correlations.path}`,
        ],
      );
    } finally {
      await storage.close();
    }
  });

const config = program.command('config').description('work with configuration files');
config
  .command('check')
  .argument('<file>', 'YAML configuration file')
  .description('validate a configuration file and print the resolved configuration (creates nothing)')
  .action(async (file: string) => {
    const resolved = await loadConfig(file);
    if (globals().json) console.log(JSON.stringify(resolved, null, 2));
    else console.log(`${file}: valid\n${formatConfig(resolved)}`);
  });

const users = program.command('users').description('manage users');
users
  .command('add')
  .argument('<name>', 'user name (unique ignoring case)')
  .option('-r, --role <role...>', 'roles of the user', [])
  .option('-e, --email <email>', 'e-mail address')
  .description('create a user (names are unique ignoring case, and may not start or end with a space)')
  .action(async (name: string, opts: { role: string[]; email?: string }) => {
    await withMetadata(globals(), async (metadata) => {
      const user = await metadata.users.create({ name, roles: opts.role, ...(opts.email ? { email: opts.email } : {}) });
      printJsonOrLines(globals(), user, [`created user ${user.name} (${user.id}) roles=[${user.roles.join(', ')}]`]);
    });
  });
users
  .command('list')
  .option('-l, --limit <n>', 'how many at most', wholeNumber('--limit'), 100)
  .option('--cursor <cursor>', 'resume after this cursor (printed by the previous page)')
  .description('list users in id order (ids are random, so this is not the order of creation)')
  .action(async (opts: { limit: number; cursor?: string }) => {
    await withMetadata(globals(), async (metadata) => {
      const page = await metadata.users.list({ limit: opts.limit, ...(opts.cursor ? { cursor: opts.cursor } : {}) });
      printJsonOrLines(globals(), page, [
        ...page.items.map((u) => `${u.id}  ${u.name}  roles=[${u.roles.join(', ')}]  created ${new Date(u.createdAt).toISOString()}`),
        ...(page.cursor ? [`more: --cursor ${page.cursor}`] : []),
      ]);
    });
  });

const keys = program.command('keys').description('manage API keys');
keys
  .command('create')
  .argument('<user>', 'user id or name')
  .option('-n, --name <name>', 'a name for the key', 'default')
  .option('--expires <duration>', 'expire after this long (e.g. 30d, 12h)')
  .description('create an API key; the key is printed once and cannot be shown again')
  .action(async (user: string, opts: { name: string; expires?: string }) => {
    const { parseDuration } = await import('../config/index.js');
    const expiresIn = opts.expires ? parseDuration(opts.expires) : undefined;
    await withMetadata(globals(), async (metadata) => {
      const owner = await findUser(metadata, user);
      const expiresAt = expiresIn !== undefined ? Date.now() + expiresIn : undefined;
      const created = await metadata.apiKeys.create(owner.id, { name: opts.name, ...(expiresAt ? { expiresAt } : {}) });
      printJsonOrLines(globals(), created, [
        `created key ${created.id} "${created.name}" for ${owner.name}${expiresAt ? `, expires ${new Date(expiresAt).toISOString()}` : ''}`,
        `key (shown once, store it now): ${created.key}`,
      ]);
    });
  });
keys
  .command('list')
  .option('-u, --user <user>', 'only the keys of this user (id or name)')
  .option('-l, --limit <n>', 'how many at most', wholeNumber('--limit'), 100)
  .option('--cursor <cursor>', 'resume after this cursor')
  .description('list API keys in id order (never their secrets)')
  .action(async (opts: { user?: string; limit: number; cursor?: string }) => {
    await withMetadata(globals(), async (metadata) => {
      // A well-formed id of a deleted user still lists that user's (revoked) keys.
      const userId =
        opts.user === undefined
          ? undefined
          : ((await findUser(metadata, opts.user, { orNull: true }))?.id ?? (userIdArg.ok(opts.user) ? opts.user : notFound(opts.user)));
      const page = await metadata.apiKeys.list(userId, { limit: opts.limit, ...(opts.cursor ? { cursor: opts.cursor } : {}) });
      printJsonOrLines(globals(), page, [
        ...page.items.map(
          (k) => `${k.id}  ${k.name}  user=${k.userId}  ${k.revokedAt ? 'revoked' : k.expiresAt && k.expiresAt <= Date.now() ? 'expired' : 'active'}`,
        ),
        ...(page.cursor ? [`more: --cursor ${page.cursor}`] : []),
      ]);
    });
  });
keys
  .command('revoke')
  .argument('<key>', 'the key id (12 letters and digits, with or without tap_), or a whole API key: its id is used, and the key is neither printed nor kept')
  .description('revoke an API key; it is refused from the moment this returns (also by a process that has the store open)')
  .action(async (text: string) => {
    const { id, fromKey } = apiKeyIdOf(text);
    await withMetadata(globals(), async (metadata) => {
      const info = await metadata.apiKeys.revoke(id);
      printJsonOrLines(globals(), { revoked: id, fromKey, userId: info.userId }, [
        `revoked key ${id}${fromKey ? ' (the id inside the API key given)' : ''} of user ${info.userId}`,
      ]);
    });
  });

/** The user `text` names: a user id, else a user name (see users.getByName). ERR_NOT_FOUND when neither, or null with `orNull`. */
async function findUser(metadata: MetadataStore, text: string): Promise<User>;
async function findUser(metadata: MetadataStore, text: string, options: { orNull: true }): Promise<User | null>;
async function findUser(metadata: MetadataStore, text: string, options?: { orNull: true }): Promise<User | null> {
  const byId = userIdArg.ok(text) ? await metadata.users.get(text) : null;
  const user = byId ?? (await metadata.users.getByName(text));
  return user ?? (options?.orNull ? null : notFound(text));
}

function notFound(user: string): never {
  throw new TapioError('ERR_NOT_FOUND', `no user with id or name ${JSON.stringify(user)}; run \`tapio-storage users list\``);
}

/**
 * The key id `text` names: a bare id, `tap_<id>`, or a whole API key (checked, then reduced to
 * its id). A malformed key is refused with ERR_API_KEY_FORMAT, whose message never quotes it.
 */
function apiKeyIdOf(text: string): { id: string; fromKey: boolean } {
  if (!text.startsWith(API_KEY_PREFIX)) return { id: text, fromKey: false };
  if (text.length === API_KEY_PREFIX.length + KEY_ID_LENGTH) return { id: text.slice(API_KEY_PREFIX.length), fromKey: false };
  return { id: parseApiKey(text).keyId, fromKey: true };
}

const wal = program.command('wal').description('inspect the transit write-ahead log (verify, dump and stats only read: safe while the store is open)');
wal
  .command('verify')
  .option('-p, --path <dir>', "WAL directory (default: the configuration's transit.wal_path)")
  .description('check every record of every segment; exit status 1 when anything is damaged')
  .action(async (opts: { path?: string }) => {
    const { verifyWal } = await import('../transit/wal-verify.js');
    const dir = await walDir(opts.path);
    const summary = await verifyWal(dir);
    printJsonOrLines(globals(), summary, [
      `${dir}: ${summary.segments.length} segment(s), ${summary.records} record(s), seq ${summary.firstSeq}..${summary.lastSeq}, ${humanBytes(summary.bytesScanned)} scanned`,
      summary.checkpoint === null
        ? 'checkpoint: none (an open scans every segment)'
        : 'ignored' in summary.checkpoint
          ? `checkpoint ignored: ${summary.checkpoint.ignored} (an open scans every segment)`
          : `checkpoint: segments up to ${summary.checkpoint.sealed} sealed (seq ${summary.checkpoint.firstSeq}..${summary.checkpoint.lastSeq} in the last); an open scans records from segment ${summary.checkpoint.sealed + 1}`,
      ...(summary.tornTail
        ? [
            `torn tail: ${summary.tornTail.bytes} byte(s) at ${summary.tornTail.segment}:${summary.tornTail.offset} (the next open cuts it and keeps the bytes in a .broken file)`,
          ]
        : []),
      ...summary.setAside.map(
        (s) =>
          `set aside by salvage: ${s.segment} bytes ${s.offset}..${s.offset + s.bytes}${s.lostCount > 0 ? `, seq ${s.lostFrom}..${s.lostFrom + s.lostCount - 1} lost` : ''} (accepted)`,
      ),
      ...(summary.setAsideIgnored ? [`SALVAGED ignored: ${summary.setAsideIgnored}`] : []),
      ...summary.problems.filter((p) => p.kind !== 'torn-tail').map((p) => `DAMAGE ${p.kind} in ${p.segment} at offset ${p.offset}: ${p.reason}`),
      summary.ok
        ? 'ok'
        : "damaged: run `tapio-storage wal salvage` (or TapioStorage.open(config, { transit: { recovery: 'salvage' } })) to keep every whole record and set the damage aside for good, or restore the files from a copy",
    ]);
    if (!summary.ok) process.exitCode = 1;
  });
wal
  .command('dump')
  .option('-p, --path <dir>', "WAL directory (default: the configuration's transit.wal_path)")
  .option('-f, --from <seq>', 'first sequence number', wholeNumber('--from'), 1)
  .option('-l, --limit <n>', 'how many records at most', wholeNumber('--limit'), 100)
  .description('print records as JSON lines: {"seq","bytes","utf8"} or {"seq","bytes","base64"}')
  .action(async (opts: { path?: string; from: number; limit: number }) => {
    const { readRecords } = await import('../transit/wal-recovery.js');
    const dir = await walDir(opts.path);
    let n = 0;
    for await (const rec of readRecords(dir, { fromSeq: opts.from })) {
      const text = Buffer.from(rec.data).toString('utf8');
      const printable = !text.includes('\uFFFD') && !/[\u0000-\u0008\u000e-\u001f]/.test(text);
      console.log(
        JSON.stringify(
          printable
            ? { seq: rec.seq, bytes: rec.data.length, utf8: text }
            : { seq: rec.seq, bytes: rec.data.length, base64: Buffer.from(rec.data).toString('base64') },
        ),
      );
      if (++n >= opts.limit) break;
    }
  });
wal
  .command('stats')
  .option('-p, --path <dir>', "WAL directory (default: the configuration's transit.wal_path)")
  .description('segments, records, sequence range and bytes on disk of the WAL, from the headers and the newest segment (wal verify checks every record)')
  .action(async (opts: { path?: string }) => {
    const { walStats } = await import('../transit/wal-stats.js');
    const dir = await walDir(opts.path);
    const summary = await walStats(dir);
    const onDisk = (await storeSizesOf([['transit', dir]]))[0]!;
    const data = {
      dir,
      segments: summary.segments,
      records: summary.records,
      firstSeq: summary.firstSeq,
      lastSeq: summary.lastSeq,
      bytesScanned: summary.bytesScanned,
      bytesOnDisk: onDisk.bytes,
      ok: summary.ok,
      ...(summary.problem !== undefined ? { problem: summary.problem } : {}),
    };
    printJsonOrLines(globals(), data, [
      `WAL ${dir}`,
      `  segments   ${data.segments}`,
      `  records    ${data.records} (seq ${data.firstSeq}..${data.lastSeq})`,
      `  on disk    ${onDisk.human} (segments are preallocated)`,
      `  headers    ${summary.ok ? 'ok (`tapio-storage wal verify` checks every record)' : `damaged: ${summary.problem ?? ''} (run \`tapio-storage wal verify\`)`}`,
    ]);
  });

wal
  .command('salvage')
  .description(
    'open the store keeping every whole record and setting damaged stretches aside for good (recorded in SALVAGED; later opens and reads accept them); exits 1 when there is nothing to salvage',
  )
  .action(async () => {
    const { verifyWal } = await import('../transit/wal-verify.js');
    const dir = await walDir(undefined);
    const found = await verifyWal(dir);
    if (found.ok) {
      const already = found.setAside.length > 0 ? ` beyond the ${found.setAside.length} stretch(es) already set aside` : '';
      throw new TapioError(
        'ERR_NOTHING_TO_SALVAGE',
        `nothing to salvage in ${dir}: \`tapio-storage wal verify\` finds no damage${already}, so the store opens as it is. Nothing was changed.`,
        { details: { dir } },
      );
    }
    const storage = await openFromOptions(globals(), { create: false, transit: { recovery: 'salvage' } });
    const report = storage.transit.recovery;
    await storage.close();
    const lost = report.setAside.filter((s) => s.lostCount > 0);
    printJsonOrLines(globals(), report, [
      `salvaged ${dir}: kept seq ${report.firstSeq}..${report.lastSeq}, set aside ${report.setAside.length} stretch(es)`,
      ...report.salvaged.map((p) => `  ${p.segment} at byte offset ${p.offset}${p.bytes > 0 ? ` (${p.bytes} bytes)` : ''}: ${p.reason}`),
      lost.length > 0
        ? `lost sequence numbers: ${lost.map((s) => (s.lostCount === 1 ? `${s.lostFrom}` : `${s.lostFrom}..${s.lostFrom + s.lostCount - 1}`)).join(', ')}`
        : 'no sequence number lost',
      `recorded in ${dir}/SALVAGED: later opens, reads and \`wal verify\` accept these stretches and refuse any other damage`,
    ]);
  });

wal
  .command('test-sync')
  .option('-p, --path <dir>', "directory to probe, on the WAL's file system (default: the configuration's transit.wal_path)")
  .option('-b, --bytes <n>', 'bytes per write (default: 1,024 records of 200 bytes as the WAL frames them)', wholeNumber('--bytes'))
  .option('-s, --seconds <s>', 'timed seconds per mode', positiveNumber('--seconds'), 2)
  .option('-m, --mode <modes>', `comma-separated modes (default all): ${SYNC_PROBE_MODES.join(', ')}`, modeList)
  .description(
    'time write + fdatasync cycles in the WAL directory for each way of writing: what the disk allows the writer (writes and removes a scratch file)',
  )
  .action(async (opts: { path?: string; bytes?: number; seconds: number; mode?: SyncProbeMode[] }) => {
    const dir = await walDir(opts.path, { wal: false });
    const json = globals().json === true;
    const col = (v: string | number, width: number): string => String(v).padStart(width);
    const ms = (v: number): string => col(v.toFixed(2), 7);
    let headed = false;
    const results = await probeSync(dir, {
      ...(opts.bytes !== undefined ? { writeBytes: opts.bytes } : {}),
      seconds: opts.seconds,
      ...(opts.mode ? { modes: opts.mode } : {}),
      onResult: (r) => {
        if (json) return;
        // Printed with the first result, so that a refused option leaves no half table.
        if (!headed) {
          headed = true;
          console.log(`write + fdatasync cycles in ${dir}, ${opts.seconds} s per mode, ${r.path} path (direct modes round each write up to whole blocks)`);
          console.log(
            `${'mode'.padEnd(22)} ${col('bytes', 9)} ${col('cycles/s', 9)} ${col('MB/s', 7)} ${col('p50 ms', 7)} ${col('p99 ms', 7)} ${col('max ms', 7)}  what`,
          );
        }
        const figures = r.ran
          ? `${col(r.writeBytes, 9)} ${col(Math.round(r.cyclesPerSecond), 9)} ${col(r.mbPerSecond.toFixed(0), 7)} ${ms(r.p50Ms)} ${ms(r.p99Ms)} ${ms(r.maxMs)}`
          : `${col('-', 9)} ${col('-', 9)} ${col('-', 7)} ${col('-', 7)} ${col('-', 7)} ${col('-', 7)}`;
        console.log(`${r.mode.padEnd(22)} ${figures}  ${r.ran ? SYNC_PROBE_MODE_TEXT[r.mode] : `not run: ${r.reason}`}`);
      },
    });
    if (json) {
      console.log(JSON.stringify({ dir, results }, null, 2));
      return;
    }
    if (results.some((r) => r.ran)) {
      console.log('A writer that acknowledges N records per fdatasync acknowledges at most N x cycles/s records per second here.');
    }
  });

/**
 * The WAL directory: --path, else the transit.wal_path of the store the global options name, as
 * the store would open it (nothing is opened; a data directory without a store is ERR_NO_STORE).
 * It must exist and, unless `wal` is false (a directory to probe), hold a WAL: inspecting a
 * directory that is not one would report an empty, healthy log.
 */
async function walDir(path: string | undefined, options: { wal?: boolean } = {}): Promise<string> {
  const dir = path ? resolve(path) : (await existingStoreConfig(globals(), [])).storage.transit.wal_path;
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) {
    throw new TapioError('ERR_DATA_DIR', `there is no WAL directory at ${dir}; pass the store's --config or --data-dir, or --path with the WAL directory`);
  }
  if (options.wal !== false) {
    const { listSegments } = await import('../transit/wal-dir.js');
    const hasId = await stat(join(dir, ID_FILE_NAME)).then(
      () => true,
      () => false,
    );
    if (!hasId && (await listSegments(dir)).length === 0) {
      throw new TapioError(
        'ERR_NO_STORE',
        `there is no transit WAL at ${dir}: it holds no ${ID_FILE_NAME} and no segment files; pass the store's --config or --data-dir, or --path with a WAL directory. Nothing was read or changed.`,
        { details: { path: dir } },
      );
    }
  }
  return dir;
}

registerFindingsCommands(program, globals);
registerQueryCommands(program, globals);
registerServeCommand(program, globals);
registerIngestCommand(program, globals);

program
  .command('status')
  .description('show which paths run (native or TypeScript), the store paths and their sizes (reads only: works beside a running store)')
  .action(async () => {
    const config = await existingStoreConfig(globals(), []);
    const caps = capabilities();
    const sizes = await storeSizes(config);
    printJsonOrLines(globals(), { capabilities: caps, dataDir: config.dataDir, sizes }, [
      `tapio-storage ${caps.version}  node ${caps.node}  ${caps.platform}/${caps.arch}`,
      `native: ${caps.native ? 'yes' : `no (${caps.nativeReason})`}  simd: ${caps.simd}  crc32c: ${caps.crc32c}  direct I/O: ${caps.directIo ? 'available' : 'off'}`,
      `data directory ${config.dataDir}`,
      ...sizes.map((s) => `${s.store.padEnd(13)} ${s.path.padEnd(40)} ${s.human}`),
    ]);
  });

program
  .command('demo')
  .option('--url <url>', 'send to the server at this address (default: the one serving the data directory, or one started for the run)')
  .option('--key <key>', 'API key for --url (or TAPIO_API_KEY); a key with the writer and reader roles')
  .option('-n, --events <n>', 'how many events to send', wholeNumber('--events'), 50_000)
  .option('--seed <n>', 'seed of the generated events', wholeNumber('--seed'), 1)
  .description('replay generated Kubernetes events over HTTP, then show the findings, an aggregation and a similarity query with their timings')
  .action(async (flags: DemoFlags) => {
    await runDemo(globals(), flags);
  });

/** A commander parser for a number above 0 and at most 3600 (seconds) given to `option`. */
function positiveNumber(option: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || n > 3600)
      throw new TapioError('ERR_INVALID_ARGUMENT', `${option} must be a number above 0 and at most 3600, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** A commander parser for --mode: a comma-separated list of sync probe modes. */
function modeList(value: string): SyncProbeMode[] {
  const modes = value.split(',').map((m) => m.trim());
  const unknown = modes.filter((m) => !(SYNC_PROBE_MODES as readonly string[]).includes(m));
  if (unknown.length > 0 || modes.length === 0) {
    throw new TapioError(
      'ERR_INVALID_ARGUMENT',
      `--mode: unknown mode ${JSON.stringify(unknown.join(','))}; use a comma-separated list of ${SYNC_PROBE_MODES.join(', ')}`,
    );
  }
  return modes as SyncProbeMode[];
}

/** A commander parser for a whole number >= 1 given to `option`. */
function wholeNumber(option: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) throw new TapioError('ERR_INVALID_ARGUMENT', `${option} must be a whole number >= 1, got ${JSON.stringify(value)}`);
    return n;
  };
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof TapioError) {
    console.error(`error ${err.code}: ${err.message}`);
  } else {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  }
  process.exitCode = 1;
}
