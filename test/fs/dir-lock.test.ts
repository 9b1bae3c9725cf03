// The directory lock (src/fs/dir-lock.ts) with each of its mechanisms alone and together: the
// abstract socket (the TypeScript path), flock through the addon, both (what a process with the
// addon takes), and the O_EXCL pid file of platforms that have neither.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { lockDir, lockSocketName, type DirLockAddon, type DirLockMechanism } from '../../src/fs/dir-lock.js';
import { loadNative } from '../../src/native/loader.js';
import { libChildScript } from '../built-lib.js';

const childScript = libChildScript(import.meta.dirname, 'dir-lock-child.mjs');
const addon = loadNative();

interface Mode {
  name: string;
  native: boolean;
  abstractSockets: boolean;
  mechanisms: DirLockMechanism[];
}

const osModes: Mode[] = [{ name: 'abstract socket', native: false, abstractSockets: true, mechanisms: ['socket'] }];
if (addon !== null) {
  osModes.unshift({ name: 'abstract socket and flock', native: true, abstractSockets: true, mechanisms: ['socket', 'flock'] });
  osModes.push({ name: 'flock', native: true, abstractSockets: false, mechanisms: ['flock'] });
}
const socketMode = osModes.find((m) => m.name === 'abstract socket')!;
const pidFileMode: Mode = { name: 'pid file', native: false, abstractSockets: false, mechanisms: ['pid-file'] };

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGKILL');
        }),
    ),
  );
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tapio-dir-lock-'));
  dirs.push(d);
  return d;
}

function options(mode: Mode): { fileName: string; what: string; native: DirLockAddon | null; abstractSockets: boolean } {
  return { fileName: 'LOCK', what: 'test directory', native: mode.native ? addon : null, abstractSockets: mode.abstractSockets };
}

/** A child process that takes the lock of `dir` in `mode`; resolves with its first line. */
function holder(dir: string, mode: Mode, extra?: 'idle' | 'spawn'): Promise<{ child: ChildProcess; line: string; exited: Promise<number | null> }> {
  const child = spawn(
    process.execPath,
    [childScript, dir, JSON.stringify({ native: mode.native, abstractSockets: mode.abstractSockets }), ...(extra ? [extra] : [])],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, line: out.slice(0, nl), exited });
    });
    child.once('exit', (code) => reject(new Error(`lock child exited (${code}) before it said anything: ${out}`)));
  });
}

async function killed(child: ChildProcess): Promise<void> {
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}

describe.each(osModes)('lockDir with the $name', (mode) => {
  it('writes its process id into the lock file, and keeps the file when released', async () => {
    const dir = newDir();
    const lock = await lockDir(dir, options(mode));
    expect(lock.mechanisms).toEqual(mode.mechanisms);
    expect(lock.file).toBe(join(dir, 'LOCK'));
    expect(readFileSync(lock.file, 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
    await lock.release(); // a second release does nothing
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
    const again = await lockDir(dir, options(mode));
    await again.release();
  });

  it('is not blocked by a lock file of a process that is gone, or by any other contents', async () => {
    for (const contents of ['999999\n', '', 'not a process id', '1\n']) {
      const dir = newDir();
      writeFileSync(join(dir, 'LOCK'), contents);
      const lock = await lockDir(dir, options(mode));
      expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
      await lock.release();
    }
  });

  it('refuses a second lock in this process, also when both are asked for at the same moment', async () => {
    const dir = newDir();
    const lock = await lockDir(dir, options(mode));
    await expect(lockDir(dir, options(mode))).rejects.toMatchObject({ code: 'ERR_LOCKED', message: expect.stringContaining('already open in this process') });
    // Another path to the same directory is the same directory.
    await expect(lockDir(`${dir}/.`, options(mode))).rejects.toMatchObject({ code: 'ERR_LOCKED' });
    await lock.release();
    const both = await Promise.allSettled([lockDir(dir, options(mode)), lockDir(dir, options(mode))]);
    const taken = both.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(taken).toHaveLength(1);
    expect(both.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'ERR_LOCKED' } });
    await taken[0]!.release();
  });

  it('refuses while another process holds it, naming that process, and is free as soon as that process is killed', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'LOCK'), '999999\n');
    const { child, line } = await holder(dir, mode);
    expect(line).toBe(`held ${mode.mechanisms.join('+')}`);
    const refused = lockDir(dir, options(mode));
    await expect(refused).rejects.toMatchObject({ code: 'ERR_LOCKED', details: { path: dir, pid: child.pid } });
    await expect(refused).rejects.toThrow(`is in use by process ${child.pid}`);
    // A holder that is told to stop releases it too; here it dies without a chance to.
    await killed(child);
    const lock = await lockDir(dir, options(mode));
    await lock.release();
  });

  it('is not inherited by a process the holder started: killing the holder frees it', async () => {
    const dir = newDir();
    const { child, line } = await holder(dir, mode, 'spawn');
    const [, mechanisms, grandchild] = line.split(' ');
    expect(mechanisms).toBe(mode.mechanisms.join('+'));
    try {
      await killed(child);
      const lock = await lockDir(dir, options(mode));
      await lock.release();
    } finally {
      process.kill(Number(grandchild), 'SIGKILL');
    }
  });

  it('says ERR_DATA_DIR when the lock file cannot be opened, and holds nothing afterwards', async () => {
    const dir = newDir();
    mkdirSync(join(dir, 'LOCK')); // a directory where the file should be
    await expect(lockDir(dir, options(mode))).rejects.toMatchObject({
      code: 'ERR_DATA_DIR',
      message: expect.stringContaining(`its lock file ${join(dir, 'LOCK')} failed (EISDIR)`),
      details: { errno: 'EISDIR' },
    });
    rmSync(join(dir, 'LOCK'), { recursive: true });
    // Neither this process nor another one is kept out by the failed attempt.
    const { line, child } = await holder(dir, mode);
    expect(line).toBe(`held ${mode.mechanisms.join('+')}`);
    await killed(child);
    const lock = await lockDir(dir, options(mode));
    await lock.release();
  });

  it('does not keep its process alive', async () => {
    const { line, exited } = await holder(newDir(), mode, 'idle');
    expect(line).toBe(`held ${mode.mechanisms.join('+')}`);
    expect(await exited).toBe(0);
  });
});

describe.runIf(process.platform === 'linux')('the abstract socket', () => {
  it('is named after the directory, hangs up on whoever connects, and keeps the lock', async () => {
    const dir = newDir();
    const lock = await lockDir(dir, options(socketMode));
    const st = statSync(dir, { bigint: true });
    const hungUp = await new Promise<boolean>((resolve) => {
      const socket = connect(lockSocketName(st.dev, st.ino));
      socket.on('error', () => resolve(false));
      socket.on('close', () => resolve(true));
    });
    expect(hungUp).toBe(true);
    await expect(lockDir(dir, options(socketMode))).rejects.toMatchObject({ code: 'ERR_LOCKED' });
    await lock.release();
    // Released, nothing listens under the name any more.
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(lockSocketName(st.dev, st.ino));
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      socket.on('connect', () => resolve('connected'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});

describe('lockDir with the pid file (no abstract sockets and no addon)', () => {
  const mode = pidFileMode;

  it('creates the file with its process id and removes its own file when released', async () => {
    const dir = newDir();
    const lock = await lockDir(dir, options(mode));
    expect(lock.mechanisms).toEqual(['pid-file']);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
    await expect(lockDir(dir, options(mode))).rejects.toMatchObject({ code: 'ERR_LOCKED', message: expect.stringContaining('already open in this process') });
    await lock.release();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
  });

  it('never takes over a lock file, even of a process that is gone: it says to delete it by hand', async () => {
    const dir = newDir();
    writeFileSync(join(dir, 'LOCK'), '999999\n');
    const refused = lockDir(dir, options(mode));
    await expect(refused).rejects.toMatchObject({ code: 'ERR_LOCKED', details: { pid: 999999 } });
    await expect(refused).rejects.toThrow(/Process 999999 is no longer running.*delete .*LOCK by hand/s);
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe('999999\n');
    rmSync(join(dir, 'LOCK'));
    const lock = await lockDir(dir, options(mode));
    await lock.release();
  });

  it('refuses while another process holds it, naming that process, and is free once it released', async () => {
    const dir = newDir();
    const { child, line } = await holder(dir, mode);
    expect(line).toBe('held pid-file');
    await expect(lockDir(dir, options(mode))).rejects.toThrow(`locked by process ${child.pid}`);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin!.end();
    await exited;
    const lock = await lockDir(dir, options(mode));
    await lock.release();
  });

  it('says ERR_DATA_DIR when the directory is missing', async () => {
    const dir = join(newDir(), 'missing');
    await expect(lockDir(dir, options(mode))).rejects.toMatchObject({ code: 'ERR_DATA_DIR' });
    for (const m of osModes) await expect(lockDir(dir, options(m))).rejects.toMatchObject({ code: 'ERR_DATA_DIR' });
  });
});

describe.runIf(addon !== null)("the addon's lockFile and unlockFile", () => {
  it('refuse what is not theirs, and report a failed open with its errno', () => {
    const a = addon!;
    expect(() => a.unlockFile({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    // A Buffer is not a lock handle either.
    expect(() => a.unlockFile(Buffer.alloc(1) as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => a.lockFile(1 as never, '')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    const missing = join(newDir(), 'missing', 'LOCK');
    expect(() => a.lockFile(missing, '')).toThrow(expect.objectContaining({ details: { file: missing, operation: 'open', errno: 'ENOENT' } }));
    const dir = newDir();
    const handle = a.lockFile(join(dir, 'LOCK'), 'x\n');
    expect(handle).not.toBeNull();
    expect(a.lockFile(join(dir, 'LOCK'), 'y\n')).toBeNull();
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe('x\n');
    a.unlockFile(handle!);
    a.unlockFile(handle!); // released already: nothing happens
    const again = a.lockFile(join(dir, 'LOCK'), 'y\n');
    expect(again).not.toBeNull();
    a.unlockFile(again!);
  });
});
