// The index file of a sealed segment: its bytes decode back to what was written, and any field
// that disagrees with the segment, any flipped byte or entries out of order make it unusable
// (the store then rebuilds it from the segment).
import { describe, expect, it } from 'vitest';

import { crc32c } from '../../src/crc32c.js';
import { storeIdFromHex } from '../../src/transit/codec.js';
import { INDEX_HEADER_SIZE, INDEX_OFF_LAST_SEQ, INDEX_OFF_SEGMENT } from '../../src/transit/format.js';
import { decodeIndexFile, encodeIndexFile } from '../../src/transit/wal-index.js';

const storeId = '00112233445566778899aabbccddeeff';
const file = { segment: 7, firstSeq: 1000, lastSeq: 5000, storeId: storeIdFromHex(storeId)!, seqs: [1300, 1600, 1900], offsets: [65528, 131064, 196600] };
const expectOf = { segment: 7, firstSeq: 1000, lastSeq: 5000, storeId };

function resealed(b: Buffer): Buffer {
  b.writeUInt32LE(crc32c(b.subarray(0, b.length - 4)), b.length - 4);
  return b;
}

describe('index files', () => {
  it('decode to what was encoded', () => {
    const b = encodeIndexFile(file);
    expect(b.length).toBe(INDEX_HEADER_SIZE + 3 * 16 + 4);
    expect(b.toString('latin1', 0, 8)).toBe('TAPIOIDX');
    expect(decodeIndexFile(b, expectOf)).toEqual({ seqs: file.seqs, offsets: file.offsets, lastSeq: 5000 });
    expect(decodeIndexFile(b, { ...expectOf, lastSeq: null })).not.toBeNull();
    expect(decodeIndexFile(encodeIndexFile({ ...file, seqs: [], offsets: [] }), expectOf)).toEqual({ seqs: [], offsets: [], lastSeq: 5000 });
  });

  it('are refused when a byte flips, a field disagrees or entries go out of order', () => {
    const good = encodeIndexFile(file);
    for (let i = 0; i < good.length; i++) {
      const b = Buffer.from(good);
      b[i]! ^= 0x10;
      expect(decodeIndexFile(b, expectOf), `byte ${i}`).toBeNull();
    }
    expect(decodeIndexFile(good, { ...expectOf, segment: 8 })).toBeNull();
    expect(decodeIndexFile(good, { ...expectOf, firstSeq: 1001 })).toBeNull();
    expect(decodeIndexFile(good, { ...expectOf, lastSeq: 4999 })).toBeNull();
    expect(decodeIndexFile(good, { ...expectOf, storeId: 'ff112233445566778899aabbccddeeff' })).toBeNull();
    expect(decodeIndexFile(good.subarray(0, good.length - 1), expectOf)).toBeNull();
    // With a checksum that matches: entries out of order, beyond the last record, or misaligned.
    expect(decodeIndexFile(encodeIndexFile({ ...file, seqs: [1600, 1300, 1900] }), expectOf)).toBeNull();
    expect(decodeIndexFile(encodeIndexFile({ ...file, offsets: [131064, 65528, 196600] }), expectOf)).toBeNull();
    expect(decodeIndexFile(encodeIndexFile({ ...file, seqs: [1300, 1600, 5001] }), expectOf)).toBeNull();
    expect(decodeIndexFile(encodeIndexFile({ ...file, offsets: [65529, 131064, 196600] }), expectOf)).toBeNull();
    const otherSegment = Buffer.from(good);
    otherSegment.writeBigUInt64LE(8n, INDEX_OFF_SEGMENT);
    expect(decodeIndexFile(resealed(otherSegment), expectOf)).toBeNull();
    const backwards = Buffer.from(good);
    backwards.writeBigUInt64LE(998n, INDEX_OFF_LAST_SEQ);
    expect(decodeIndexFile(resealed(backwards), { ...expectOf, lastSeq: null })).toBeNull();
  });
});
