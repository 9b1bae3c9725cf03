import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ERROR_CODES, HTTP_STATUS, TapioError, isTapioError } from '../src/errors.js';
// @ts-expect-error: a plain ESM script without types
import { renderErrorsDoc } from '../scripts/errors-doc.mjs';

describe('TapioError', () => {
  it('carries a stable code, a message, a cause and details', () => {
    const cause = new Error('EIO');
    const err = new TapioError('ERR_WAL_IO', 'write failed', { cause, details: { file: 'x.wal' } });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('TapioError');
    expect(err.code).toBe('ERR_WAL_IO');
    expect(err.message).toBe('write failed');
    expect(err.cause).toBe(cause);
    expect(err.details).toEqual({ file: 'x.wal' });
    expect(isTapioError(err, 'ERR_WAL_IO')).toBe(true);
    expect(isTapioError(err, 'ERR_CONFIG')).toBe(false);
    expect(isTapioError(new Error('x'))).toBe(false);
  });

  it('every code has a meaning and an action', () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^ERR_[A-Z0-9_]+$/);
      expect(entry.meaning.length).toBeGreaterThan(20);
      expect(entry.action.length).toBeGreaterThan(10);
    }
  });

  it('docs/errors.md lists every code exactly as the table says (run `node scripts/errors-doc.mjs` after a change)', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');
    expect(doc).toBe(renderErrorsDoc(ERROR_CODES, HTTP_STATUS));
  });
});
