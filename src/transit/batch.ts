import { types } from 'node:util';

import { TapioError } from '../errors.js';

/**
 * A record as appended: a string, stored as its UTF-8 bytes, or bytes: a Uint8Array (or Buffer),
 * an ArrayBuffer or SharedArrayBuffer (all its bytes), or any other view of one, such as a
 * DataView or a Float64Array (the bytes it views, in the platform's byte order).
 */
export type TransitRecordInput = Uint8Array | ArrayBufferView | ArrayBufferLike | string;

/**
 * A committed record. `data` is a copy the caller owns; records of up to 1 KiB share a 16 KiB
 * ArrayBuffer with the records read next to them (as Node's Buffer pool does), so keeping one
 * keeps up to 16 KiB alive: keep `data.slice()` when holding a few records for long.
 */
export interface TransitRecord {
  seq: number;
  data: Uint8Array;
}

const encoder = new TextEncoder();

/** What a refused record is, for the message: `null`, `number`, `a Map`, `an object`. */
function describeValue(value: unknown): string {
  if (value === null || typeof value !== 'object') return value === null ? 'null' : typeof value;
  const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}` : 'an object';
}

/**
 * Checks a batch given to an append and turns each record into the bytes to store: strings as
 * UTF-8, views and buffers as the bytes they hold (not copied here). Throws ERR_INVALID_ARGUMENT
 * naming the call (`what`), the offending record and what it is.
 */
export function toBatch(records: readonly TransitRecordInput[], what: string): Uint8Array[] {
  if (!Array.isArray(records)) {
    throw new TapioError(
      'ERR_INVALID_ARGUMENT',
      `${what}(records): records must be an array of strings or bytes (Uint8Array, Buffer, ArrayBuffer, DataView or another typed array), got ${describeValue(records)}`,
    );
  }
  if (records.length === 0) throw new TapioError('ERR_INVALID_ARGUMENT', `${what}(records): the batch is empty; pass at least one record`);
  const out = new Array<Uint8Array>(records.length);
  for (let i = 0; i < records.length; i++) {
    const r: unknown = records[i];
    if (r instanceof Uint8Array) out[i] = r;
    else if (typeof r === 'string') out[i] = encoder.encode(r);
    // isView and isAnyArrayBuffer also recognise buffers made in another realm or thread.
    else if (ArrayBuffer.isView(r)) out[i] = new Uint8Array(r.buffer, r.byteOffset, r.byteLength);
    else if (types.isAnyArrayBuffer(r)) out[i] = new Uint8Array(r);
    else {
      throw new TapioError(
        'ERR_INVALID_ARGUMENT',
        `${what}(records): record ${i} is ${describeValue(r)}; each record must be a string or bytes (Uint8Array, Buffer, ArrayBuffer, DataView or another typed array)`,
      );
    }
  }
  return out;
}
