import { capabilities } from '../capabilities.js';
import { openFromOptions, type GlobalOptions } from './common.js';

/**
 * `npm start`: a short tour on the data directory (./data unless --data-dir or --config say
 * otherwise), printing each step.
 */
export async function runDemo(opts: GlobalOptions): Promise<void> {
  const say = (line: string): void => console.log(line);
  const caps = capabilities();
  say(`tapio-storage ${caps.version} on node ${caps.node} (${caps.platform}/${caps.arch})`);
  say(
    caps.native
      ? `  native path: SIMD ${caps.simd}, CRC32C ${caps.crc32c}, direct I/O ${caps.directIo ? 'available' : 'off'}`
      : `  TypeScript path: ${caps.nativeReason}`,
  );

  const started = Date.now();
  const storage = await openFromOptions(opts, { create: true });
  try {
    say(`opened data directory ${storage.config.dataDir}`);
    const users = storage.metadata.users;
    let user = await users.getByName('demo');
    if (user) say(`  user "demo" exists already (${user.id})`);
    else {
      user = await users.create({ name: 'demo', roles: ['viewer'] });
      say(`  created user "demo" (${user.id}) with roles [${user.roles.join(', ')}]`);
    }
    const created = await storage.metadata.apiKeys.create(user.id, { name: `demo-${new Date().toISOString()}` });
    const shown = `${created.key.slice(0, 12)}…${created.key.slice(-4)}`;
    say(`  created API key ${created.id} (${shown}; the full key is shown only to its creator)`);
    const verified = await storage.metadata.apiKeys.verify(created.key);
    say(`  verify(key) -> ${verified === user.id ? `user ${verified} (ok)` : `unexpected ${String(verified)}`}`);
    const typo = `${created.key.slice(0, -1)}${created.key.endsWith('A') ? 'B' : 'A'}`;
    say(`  verify(key with one character changed) -> ${String(await storage.metadata.apiKeys.verify(typo))}`);
    await storage.metadata.apiKeys.revoke(created.id);
    say(`  revoked ${created.id}; verify(key) -> ${String(await storage.metadata.apiKeys.verify(created.key))}`);
    if (verified !== user.id) process.exitCode = 1;

    const transit = storage.transit;
    say(`transit WAL on the ${transit.path} path (${transit.dir}); recovered seq ${transit.recovery.firstSeq}..${transit.recovery.lastSeq}`);
    const events = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ kind: 'pod-restart', pod: `nginx-${i % 7}`, at: Date.now() }));
    const t0 = process.hrtime.bigint();
    const appended = await Promise.all(Array.from({ length: 10 }, (_, i) => transit.append(events.slice(i * 100, i * 100 + 100))));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const first = Math.min(...appended.map((a) => a.firstSeq));
    const last = Math.max(...appended.map((a) => a.lastSeq));
    const st = transit.stats();
    say(
      `  appended 1000 events in 10 concurrent batches: seq ${first}..${last}, durable in ${ms.toFixed(1)} ms, ${st.groups} fdatasync group(s) so far, direct I/O ${st.directIo ? 'on' : 'off'}`,
    );
    let readBack = 0;
    for await (const rec of transit.read({ fromSeq: first, limit: 1000 })) if (rec.seq <= last) readBack++;
    say(`  read back ${readBack} records from seq ${first}`);
    const seen: number[] = [];
    const sub = transit.subscribe('demo', (rec) => {
      seen.push(rec.seq);
    });
    while (sub.position < last) await new Promise((r) => setTimeout(r, 5));
    await sub.close();
    const checkpoint = await storage.metadata.checkpoints.get('demo');
    say(`  subscription "demo" delivered ${seen.length} record(s) this run; checkpoint stored at seq ${checkpoint?.seq ?? 'none'}`);
  } finally {
    await storage.close();
  }
  say(`done in ${Date.now() - started} ms`);
}
