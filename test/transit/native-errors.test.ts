import { describe, expect, it } from 'vitest';

import { TapioError } from '../../src/errors.js';
import { nativeWalIoError, parseNativeIoFailure } from '../../src/transit/native-errors.js';

describe('native WAL errors', () => {
  it.each([
    ['write to /d/0000000000000001.wal failed: Input/output error (EIO)', { file: '/d/0000000000000001.wal', operation: 'write', code: 'EIO' }],
    ['fdatasync /d/0000000000000001.wal failed: Input/output error (EIO)', { file: '/d/0000000000000001.wal', operation: 'fdatasync', code: 'EIO' }],
    ['posix_fallocate of /d/x y/0000000000000002.wal failed: No space left on device (ENOSPC)', { file: '/d/x y/0000000000000002.wal', operation: 'fallocate', code: 'ENOSPC' }],
    ['open (O_DIRECT) /d/0000000000000002.wal failed: Invalid argument (EINVAL)', { file: '/d/0000000000000002.wal', operation: 'open', code: 'EINVAL' }],
    ['fsync of directory /d failed: Input/output error (EIO)', { file: '/d', operation: 'fsync', code: 'EIO' }],
    ['rename to /d/WAL_ID of /d/WAL_ID.tmp failed: Read-only file system (EROFS)', { file: '/d/WAL_ID.tmp', operation: 'rename', code: 'EROFS' }],
    ['write to /d/a.wal failed: Stale file handle (errno 116)', { file: '/d/a.wal', operation: 'write', code: 'errno 116' }],
  ])('reads the file, operation and errno name of %s', (message, facts) => {
    expect(parseNativeIoFailure(message)).toEqual(facts);
  });

  it('leaves messages of another form alone', () => {
    expect(parseNativeIoFailure('WAL writer: out of memory')).toBeNull();
    const err = nativeWalIoError('WAL writer: out of memory');
    expect(err).toMatchObject({ code: 'ERR_WAL_IO', details: undefined });
    expect(err.message).toContain('WAL writer: out of memory');
  });

  it('gives ERR_WAL_IO the details the TypeScript twin gives, once', () => {
    const failure = 'write to /d/0000000000000001.wal failed: Input/output error (EIO)';
    const err = nativeWalIoError(failure);
    expect(err).toBeInstanceOf(TapioError);
    expect(err.details).toEqual({ file: '/d/0000000000000001.wal', operation: 'write', code: 'EIO' });
    expect(err.message).toMatch(/^transit WAL write of \/d\/0000000000000001\.wal failed \(EIO\): /);
  });
});
