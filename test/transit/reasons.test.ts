// The one module that turns a reason and its details into a TapioError, for the native path (the
// addon calls it for every failed core status) and the TypeScript twin alike.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { TapioError } from '../../src/errors.js';
import { NativeWal } from '../../src/transit/native-wal.js';
import { SALVAGE_ADVICE, damageText, reasonError, reasonText } from '../../src/transit/reasons.js';
import { TsWalWriter } from '../../src/transit/wal-writer.js';
import { cleanupDirs, nativeLoaded, options, tempDir } from './wal-helpers.js';

afterEach(cleanupDirs);

describe('reasonError', () => {
  it('gives a failed system call ERR_WAL_IO with its operation, file and errno name', () => {
    const err = reasonError('io', { operation: 'open', file: '/d/0000000000000001.wal', errno: 'EACCES' });
    expect(err).toBeInstanceOf(TapioError);
    expect(err.code).toBe('ERR_WAL_IO');
    expect(err.details).toEqual({ file: '/d/0000000000000001.wal', operation: 'open', errno: 'EACCES' });
    expect(err.message).toBe('open of /d/0000000000000001.wal failed (EACCES: permission denied); fix the cause and try again');
  });

  it("words the writer's failed state with what to do, and keeps the system call's details", () => {
    const err = reasonError('writer-failed', { cause: 'io', operation: 'fdatasync', file: '/d/0000000000000002.wal', errno: 'ENOSPC' });
    expect(err.code).toBe('ERR_WAL_IO');
    expect(err.details).toEqual({ file: '/d/0000000000000002.wal', operation: 'fdatasync', code: 'ENOSPC' });
    expect(err.message).toMatch(
      /^transit WAL fdatasync of \/d\/0000000000000002\.wal failed \(ENOSPC: no space left on device\)\. The writer is in a failed state/,
    );
    expect(err.message).toContain('close and reopen the store');
    // Another cause is worded by its own reason.
    const oom = reasonError('writer-failed', { cause: 'out-of-memory', what: 'header-block', bytes: 4096, file: '/d/x.wal' });
    expect(oom.message).toMatch(/^the transit WAL writer failed: cannot allocate 4096 bytes for a segment header block for \/d\/x\.wal\. /);
  });

  it('names an errno the system has no text for by its name alone', () => {
    expect(reasonText('io', { operation: 'write', file: '/d/a.wal', errno: 'errno 1234' })).toBe('write of /d/a.wal failed (errno 1234)');
  });

  it('gives damage in a segment the damage reason, its facts and its clause as details', () => {
    const err = reasonError('segment-damaged', {
      segment: '0000000000000001.wal',
      file: '/d/0000000000000001.wal',
      offset: 4096,
      bytes: 120,
      damage: 'record-checksum',
      stored: 1,
      computed: 0xabcdef12,
      validAt: 4216,
    });
    expect(err.code).toBe('ERR_WAL_CORRUPT');
    const reason = 'record checksum mismatch (stored 0x00000001, computed 0xabcdef12); valid records follow at byte offset 4216';
    expect(err.details).toEqual({
      segment: '0000000000000001.wal',
      file: '/d/0000000000000001.wal',
      offset: 4096,
      bytes: 120,
      damage: 'record-checksum',
      stored: 1,
      computed: 0xabcdef12,
      validAt: 4216,
      reason,
    });
    expect(err.message).toBe(`transit WAL segment /d/0000000000000001.wal is damaged at byte offset 4096: ${reason}. ${SALVAGE_ADVICE}`);
  });

  it('adds that only the newest segment may end in a torn tail', () => {
    expect(damageText({ damage: 'bytes-after-end', olderSegment: true })).toBe(
      'a zero record header is followed by non-zero bytes; only the newest segment may end in a torn tail',
    );
  });

  it('refuses a reason it does not know as a fault of the addon', () => {
    const err = reasonError('no-such-reason', { a: 1 });
    expect(err.code).toBe('ERR_NATIVE');
    expect(err.details).toEqual({ reason: 'no-such-reason', a: 1 });
  });
});

describe.each([['typescript', TsWalWriter.open], ...(nativeLoaded ? ([['native', NativeWal.open]] as const) : [])] as const)(
  'a failed system call of an open (%s)',
  (_name, open) => {
    it('is ERR_WAL_IO naming the operation, the file and the errno, from the reason and its details', async () => {
      const dir = join(await tempDir(), 'wal');
      await mkdir(dir);
      await writeFile(join(dir, 'WAL_ID'), '{"format":"tapio-wal","version":1,"storeId":"00112233445566778899aabbccddeeff"}');
      await mkdir(join(dir, '0000000000000001.wal'));
      const err = await open(options(dir)).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(TapioError);
      const e = err as TapioError;
      expect(e.code).toBe('ERR_WAL_IO');
      expect(e.details).toEqual({ file: join(dir, '0000000000000001.wal'), operation: 'read', errno: 'EISDIR' });
      expect(e.message).toContain(`of ${join(dir, '0000000000000001.wal')} failed (EISDIR`);
    });
  },
);
