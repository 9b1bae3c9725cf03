import { TapioError } from '../errors.js';

/** A record as appended: bytes, or a string stored as UTF-8. */
export type TransitRecordInput = Uint8Array | string;

const encoder = new TextEncoder();

/**
 * Checks a batch given to an append and turns strings into UTF-8 bytes. Throws
 * ERR_INVALID_ARGUMENT naming the call (`what`) and the offending record.
 */
export function toBatch(records: readonly TransitRecordInput[], what: string): Uint8Array[] {
  if (!Array.isArray(records)) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `${what}(records): records must be an array of Uint8Array or string, got ${records === null ? 'null' : typeof records}`);
  }
  if (records.length === 0) throw new TapioError('ERR_INVALID_ARGUMENT', `${what}(records): the batch is empty; pass at least one record`);
  const out = new Array<Uint8Array>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r: unknown = records[i];
    if (r instanceof Uint8Array) out[i] = r;
    else if (typeof r === 'string') out[i] = encoder.encode(r);
    else {
      throw new TapioError('ERR_INVALID_ARGUMENT', `${what}(records): record ${i} is ${r === null ? 'null' : typeof r}; each record must be a Uint8Array (or Buffer) or a string`);
    }
  }
  return out;
}
