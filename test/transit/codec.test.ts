import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { crc32cTs } from '../../src/native/crc32c.js';
import {
  decodeRecord,
  decodeSegmentHeader,
  encodeRecord,
  encodeSegmentHeader,
  readU64,
  storeIdFromHex,
  storeIdToHex,
  writeU64,
} from '../../src/transit/codec.js';
import { RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, recordFootprint } from '../../src/transit/format.js';

const storeId = Uint8Array.from({ length: 16 }, (_, i) => i * 17);

describe('segment header', () => {
  const fields = { segment: 3, firstSeq: 1001, storeId, createdMs: 1_700_000_000_123, segmentSize: 1 << 20 };

  it('round-trips', () => {
    const bytes = encodeSegmentHeader(fields);
    expect(bytes.length).toBe(SEGMENT_HEADER_SIZE);
    const d = decodeSegmentHeader(bytes);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.header).toEqual({ ...fields, storeId: new Uint8Array(storeId), version: 1, used: 64 });
  });

  it('has the documented bytes', () => {
    const b = encodeSegmentHeader(fields);
    expect(b.subarray(0, 8).toString('latin1')).toBe('TAPIOWAL');
    expect(b.readUInt32LE(8)).toBe(1);
    expect(b.readUInt32LE(12)).toBe(64);
    expect(b.readBigUInt64LE(16)).toBe(3n);
    expect(b.readBigUInt64LE(24)).toBe(1001n);
    expect([...b.subarray(32, 48)]).toEqual([...storeId]);
    expect(b.readBigUInt64LE(48)).toBe(1_700_000_000_123n);
    expect(b.readUInt32LE(56)).toBe(1 << 20);
    expect(b.readUInt32LE(60)).toBe(crc32cTs(b.subarray(0, 60)));
    expect(b.subarray(64).every((x) => x === 0)).toBe(true);
  });

  it('rejects a bad magic, a bad checksum, another version and short input', () => {
    const good = encodeSegmentHeader(fields);
    const magic = Buffer.from(good);
    magic[0] = 0x58;
    expect(decodeSegmentHeader(magic)).toEqual({ ok: false, kind: 'damaged', problem: { reason: 'bad-magic', details: {} } });
    const crc = Buffer.from(good);
    crc[30]! ^= 1;
    expect(decodeSegmentHeader(crc)).toEqual({
      ok: false,
      kind: 'damaged',
      problem: { reason: 'header-checksum', details: { stored: good.readUInt32LE(60), computed: crc32cTs(crc.subarray(0, 60)) } },
    });
    const v2 = Buffer.from(good);
    v2.writeUInt32LE(2, 8);
    v2.writeUInt32LE(crc32cTs(v2.subarray(0, 60)), 60);
    expect(decodeSegmentHeader(v2)).toEqual({
      ok: false,
      kind: 'version',
      version: 2,
      problem: { reason: 'format-version', details: { version: 2, expected: 1 } },
    });
    expect(decodeSegmentHeader(good.subarray(0, 40))).toEqual({
      ok: false,
      kind: 'damaged',
      problem: { reason: 'header-incomplete', details: { available: 40, expected: 64 } },
    });
  });
});

describe('records', () => {
  it('has the documented bytes: crc over header bytes 4..16 and the payload, zero padding to 8', () => {
    const buf = new Uint8Array(64).fill(0xee);
    const payload = Uint8Array.from([1, 2, 3, 4, 5]);
    const next = encodeRecord(buf, 8, 42, payload);
    expect(next).toBe(8 + 24);
    const b = Buffer.from(buf.buffer);
    expect(b.readUInt32LE(8 + 4)).toBe(5);
    expect(b.readBigUInt64LE(8 + 8)).toBe(42n);
    expect([...b.subarray(24, 29)]).toEqual([1, 2, 3, 4, 5]);
    expect([...b.subarray(29, 32)]).toEqual([0, 0, 0]);
    expect(b.readUInt32LE(8)).toBe(crc32cTs(b.subarray(12, 29)));
    expect(b[32]).toBe(0xee);
  });

  it('round-trips any payload and sequence number', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (payload, seq) => {
        const buf = new Uint8Array(recordFootprint(payload.length) + 16);
        const next = encodeRecord(buf, 0, seq, payload);
        const d = decodeRecord(buf, 0);
        expect(d).toEqual({ kind: 'record', seq, length: payload.length, next });
        expect(buf.subarray(RECORD_HEADER_SIZE, RECORD_HEADER_SIZE + payload.length)).toEqual(payload);
        expect(decodeRecord(buf, next)).toEqual({ kind: 'end' });
      }),
    );
  });

  it('detects a flipped bit anywhere in a record', () => {
    const payload = Uint8Array.from({ length: 37 }, (_, i) => i);
    const buf = new Uint8Array(recordFootprint(37));
    encodeRecord(buf, 0, 9, payload);
    for (let bit = 0; bit < (RECORD_HEADER_SIZE + 37) * 8; bit++) {
      const copy = buf.slice();
      copy[bit >> 3]! ^= 1 << (bit & 7);
      expect(decodeRecord(copy, 0).kind, `bit ${bit}`).not.toBe('record');
    }
  });

  it('treats a zero header and a short zero remainder as the end; a short non-zero remainder and a length past the end as bad', () => {
    expect(decodeRecord(new Uint8Array(32), 0)).toEqual({ kind: 'end' });
    expect(decodeRecord(new Uint8Array(15), 0)).toEqual({ kind: 'end' });
    expect(decodeRecord(new Uint8Array(15).fill(1), 0)).toEqual({ kind: 'bad', problem: { reason: 'partial-header', details: { left: 15 } } });
    const buf = new Uint8Array(40);
    encodeRecord(buf, 0, 1, new Uint8Array(8));
    expect(decodeRecord(buf, 0, 20)).toEqual({ kind: 'bad', problem: { reason: 'record-length', details: { length: 8, left: 4 } } });
  });
});

describe('integers and store ids', () => {
  it('reads and writes u64 up to MAX_SAFE_INTEGER and flags larger values', () => {
    const b = new Uint8Array(8);
    for (const v of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER]) {
      writeU64(b, 0, v);
      expect(Buffer.from(b).readBigUInt64LE(0)).toBe(BigInt(v));
      expect(readU64(b, 0)).toBe(v);
    }
    Buffer.from(b.buffer).writeBigUInt64LE(2n ** 53n, 0);
    expect(readU64(b, 0)).toBe(-1);
  });

  it('writes store ids as 32 lowercase hex digits, byte 0 first', () => {
    expect(storeIdToHex(storeId)).toBe('00112233445566778899aabbccddeeff');
    expect(storeIdFromHex('00112233445566778899aabbccddeeff')).toEqual(storeId);
    expect(storeIdFromHex('00112233445566778899AABBCCDDEEFF')).toBeNull();
    expect(storeIdFromHex('0011')).toBeNull();
  });
});
