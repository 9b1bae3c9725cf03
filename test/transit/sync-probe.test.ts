// The sync probe (probeSync, `wal test-sync`) on both paths: what each path runs, the figures'
// shape, the scratch files, and bad input; and the native writer's segment is open with O_DIRECT
// exactly where the probe (and the file system, asked directly) says the folder takes it.
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { TapioError } from '../../src/errors.js';
import { NativeWal } from '../../src/transit/native-wal.js';
import { MAX_PROBE_CYCLES, MAX_PROBE_WRITE_BYTES, probeSync, SYNC_PROBE_MODES, type SyncProbeResult } from '../../src/transit/sync-probe.js';
import { TsWalWriter } from '../../src/transit/wal-writer.js';
import { nativeLoaded, openers, payload, readAll, options as walOptions, tempDir } from './wal-helpers.js';

const paths: Array<'native' | 'typescript'> = nativeLoaded ? ['native', 'typescript'] : ['typescript'];

async function probeError(p: Promise<unknown>): Promise<TapioError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TapioError);
  return err as TapioError;
}

describe.each(paths)('probeSync on the %s path', (path) => {
  it('runs the modes this path can, in order, and leaves nothing in the directory', async () => {
    const dir = await tempDir();
    const seen: SyncProbeResult[] = [];
    const results = await probeSync(dir, {
      path,
      writeBytes: 5000,
      fileBytes: 5000 + 65536,
      maxCycles: 25,
      seconds: 30,
      modes: [...SYNC_PROBE_MODES].reverse(),
      onResult: (r) => seen.push(r),
    });
    expect(results.map((r) => r.mode)).toEqual([...SYNC_PROBE_MODES]);
    expect(seen).toEqual(results);
    const ranModes = results.filter((r) => r.ran).map((r) => r.mode);
    if (path === 'typescript') {
      expect(ranModes).toEqual(['buffered-sparse', 'buffered-append']);
      for (const r of results.filter((x) => !x.ran)) expect(r.reason).toMatch(/O_DIRECT|fallocate/);
    } else {
      // Direct modes run exactly where the native writer uses O_DIRECT, in a directory beside it.
      const wal = await openers.native!(walOptions(await tempDir()));
      const writerDirect = wal.stats().directIo;
      await wal.close();
      expect(ranModes).toEqual(writerDirect ? [...SYNC_PROBE_MODES] : ['buffered-preallocated', 'buffered-sparse', 'buffered-append']);
    }
    for (const r of results) {
      expect(r.path).toBe(path);
      if (!r.ran) {
        expect(r.cycles).toBe(0);
        continue;
      }
      expect(r.cycles).toBe(25);
      // Direct writes are whole blocks (at least 4 KiB, at most 64 KiB): 5,000 bytes become 8 KiB with 4 KiB blocks.
      if (r.mode.startsWith('direct')) {
        expect(r.writeBytes % 4096).toBe(0);
        expect(r.writeBytes).toBeGreaterThanOrEqual(5000);
        expect(r.writeBytes).toBeLessThan(5000 + 65536);
      } else {
        expect(r.writeBytes).toBe(5000);
      }
      expect(r.cyclesPerSecond).toBeGreaterThan(0);
      expect(r.mbPerSecond).toBeCloseTo((r.cyclesPerSecond * r.writeBytes) / 1e6, 6);
      expect(r.p50Ms).toBeGreaterThan(0);
      expect(r.p50Ms).toBeLessThanOrEqual(r.p99Ms);
      expect(r.p99Ms).toBeLessThanOrEqual(r.maxMs);
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('stops after the seconds asked when no cycle count is given', async () => {
    const dir = await tempDir();
    const [r] = await probeSync(dir, { path, modes: ['buffered-append'], writeBytes: 4096, seconds: 0.05 });
    expect(r!.cycles).toBeGreaterThan(0);
    // Timed seconds add up to at least what was asked, and the cycle before the last was still short of it.
    const total = r!.cycles / r!.cyclesPerSecond;
    expect(total).toBeGreaterThanOrEqual(0.05);
    expect(total - r!.maxMs / 1000).toBeLessThan(0.05);
  });

  it('refuses bad options with ERR_INVALID_ARGUMENT naming the option', async () => {
    const dir = await tempDir();
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ writeBytes: 0 }, /writeBytes/],
      [{ writeBytes: 1.5 }, /writeBytes/],
      [{ writeBytes: 64 * 1024 * 1024 + 1 }, /writeBytes/],
      [{ seconds: 0 }, /seconds/],
      [{ seconds: '1' }, /seconds/],
      [{ maxCycles: -1 }, /maxCycles/],
      [{ maxCycles: 0 }, /maxCycles/],
      [{ maxCycles: MAX_PROBE_CYCLES + 1 }, /maxCycles/],
      [{ writeBytes: 4096, fileBytes: 8192 }, /fileBytes must be a whole number from 69632 \(one write of 4096 bytes \+ 65536\)/],
      [{ modes: [] }, /modes/],
      [{ modes: ['direct'] }, /modes/],
      [{ onResult: 'yes' }, /onResult/],
    ];
    for (const [options, field] of cases) {
      const err = await probeError(probeSync(dir, { path, ...options } as never));
      expect(err.code).toBe('ERR_INVALID_ARGUMENT');
      expect(err.message).toMatch(field);
    }
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes the largest write with the default file size, and a time too short for a microsecond', async () => {
    const dir = await tempDir();
    const [big] = await probeSync(dir, { path, modes: ['buffered-append'], writeBytes: MAX_PROBE_WRITE_BYTES, maxCycles: 1 });
    expect(big).toMatchObject({ ran: true, cycles: 1, writeBytes: MAX_PROBE_WRITE_BYTES });
    const [short] = await probeSync(dir, { path, modes: ['buffered-append'], writeBytes: 4096, seconds: 1e-7 });
    expect(short).toMatchObject({ ran: true, cycles: 1 });
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a directory that is not there, or a file, with ERR_DATA_DIR', async () => {
    const dir = await tempDir();
    let err = await probeError(probeSync(join(dir, 'missing'), { path, maxCycles: 1 }));
    expect(err.code).toBe('ERR_DATA_DIR');
    expect(err.message).toContain(join(dir, 'missing'));
    await writeFile(join(dir, 'plain'), 'x');
    err = await probeError(probeSync(join(dir, 'plain'), { path, maxCycles: 1 }));
    expect(err.code).toBe('ERR_DATA_DIR');
  });
});

describe('probeSync path choice', () => {
  it('names the path it ran on', async () => {
    const dir = await tempDir();
    const [r] = await probeSync(dir, { modes: ['buffered-append'], maxCycles: 2, writeBytes: 4096 });
    expect(r!.path).toBe(nativeLoaded ? 'native' : 'typescript');
  });
});

/** Whether the file system under `dir` lets a file be opened with O_DIRECT, asked of it directly. */
function fileSystemTakesODirect(dir: string): boolean {
  const file = join(dir, 'o-direct-check');
  try {
    closeSync(openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT, 0o600));
    return true;
  } catch (err) {
    // open(2) gives EINVAL where the file system refuses O_DIRECT.
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw err;
  } finally {
    rmSync(file, { force: true });
  }
}

/** The open flags of every segment file this process holds open in `dir`, as the kernel reports them. */
function segmentFileFlags(dir: string): number[] {
  const real = realpathSync(dir);
  const flags: number[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed since the listing (the listing's own descriptor, say)
    }
    if (dirname(target) !== real || !target.endsWith('.wal')) continue;
    const octal = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    expect(octal, `flags of descriptor ${fd}`).toBeDefined();
    flags.push(Number.parseInt(octal!, 8));
  }
  return flags;
}

// Folders of different file systems: the temporary folder (a disk file system on most machines)
// and /dev/shm (tmpfs; Linux before 6.6 refuses O_DIRECT there, later versions take it).
const folders: Array<[string, string]> = [['the temporary folder', os.tmpdir()]];
if (existsSync('/dev/shm') && realpathSync('/dev/shm') !== realpathSync(os.tmpdir())) folders.push(['/dev/shm', '/dev/shm']);

describe.runIf(process.platform === 'linux' && nativeLoaded)('O_DIRECT is on exactly where the probe says the folder takes it', () => {
  it.each(folders)('in %s', async (_name, folder) => {
    const dir = await mkdtemp(join(folder, 'tapio-direct-io-'));
    try {
      const takes = fileSystemTakesODirect(dir);
      const [probe] = await probeSync(dir, { path: 'native', modes: ['direct-preallocated'], writeBytes: 4096, fileBytes: 4096 + 65536, maxCycles: 2 });
      expect(probe!.ran).toBe(takes);
      if (!takes) expect(probe!.reason).toMatch(/direct I\/O/);

      // The native writer with direct_io 'auto': on here exactly when the probe ran, and the
      // segment it writes is open with O_DIRECT then, and without it otherwise.
      const wal = await NativeWal.open(walOptions(dir, { directIo: 'auto' }));
      try {
        const stats = wal.stats();
        expect(stats.directIo).toBe(takes);
        if (takes) expect([512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]).toContain(stats.alignment);
        const flags = segmentFileFlags(dir);
        expect(flags.length).toBeGreaterThan(0);
        for (const f of flags) expect((f & constants.O_DIRECT) !== 0).toBe(takes);
        expect(await wal.append([payload(1, 5000), payload(2, 3)])).toEqual({ firstSeq: 1, lastSeq: 2 });
      } finally {
        await wal.close();
      }
      expect((await readAll(dir)).map((r) => r.data)).toEqual([payload(1, 5000), payload(2, 3)]);

      // direct_io 'on' opens where the folder takes O_DIRECT and refuses to open where it does not.
      const on = NativeWal.open(walOptions(dir, { directIo: 'on' }));
      if (takes) {
        const again = await on;
        expect(again.stats().directIo).toBe(true);
        await again.close();
      } else {
        await expect(on).rejects.toMatchObject({ code: 'ERR_WAL_IO' });
      }

      // The TypeScript twin never writes with O_DIRECT, wherever it runs.
      const twin = await TsWalWriter.open(walOptions(dir, { directIo: 'auto' }));
      try {
        expect(twin.stats().directIo).toBe(false);
        const flags = segmentFileFlags(dir);
        expect(flags.length).toBeGreaterThan(0);
        for (const f of flags) expect(f & constants.O_DIRECT).toBe(0);
      } finally {
        await twin.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
