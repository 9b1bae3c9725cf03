// The addon's declaration (NativeAddon in src/native/loader.ts) against the addon that loads: every
// declared export, class member and accessor is there with the declared kind, and nothing else is.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadNative, type NativeAddon, type NativeProducer, type NativeRing, type NativeWalWriter } from '../../src/native/loader.js';
import { nativeMissingReason, typescriptOnlyAllowed } from '../paths.js';

/** What `typeof` (or, for a class member, its property descriptor) must show for a declared member. */
type Kind<T> = T extends abstract new (...args: never[]) => unknown
  ? 'class'
  : T extends (...args: never[]) => unknown
    ? 'function'
    : T extends number
      ? 'number'
      : T extends object
        ? 'object'
        : never;

/** One entry per declared member, each of the declared kind: the compiler keeps these tables in step with the declaration. */
type Members<T> = { [K in keyof T]-?: Kind<T[K]> };

const addonExports: Members<NativeAddon> = {
  init: 'function',
  features: 'function',
  abiVersion: 'number',
  crc32c: 'function',
  crc32cRange: 'function',
  noop: 'function',
  lockFile: 'function',
  unlockFile: 'function',
  openWal: 'function',
  liveWalWriters: 'function',
  NativeProducer: 'class',
  NativeRing: 'class',
  syncProbe: 'function',
  mergeOrder: 'function',
  cosineTopK: 'function',
  cosineTopKAsync: 'function',
  queryNorm: 'function',
  memoryScan: 'function',
  selectTimeRange: 'function',
  selectByCode: 'function',
  selectByMask: 'function',
  checkNdjson: 'function',
  openDirectReader: 'function',
  directRead: 'function',
  closeDirectReader: 'function',
  probeDirectIo: 'function',
  createSequentialWriter: 'function',
  sequentialWrite: 'function',
  finishSequentialWriter: 'function',
  abortSequentialWriter: 'function',
};
const producerMembers: Members<NativeProducer> = { pushBatches: 'function', ref: 'function', unref: 'function', detach: 'function', id: 'number' };
const ringMembers: Members<NativeRing> = { push: 'function', drain: 'function', usedBytes: 'function' };
const writerMembers: Members<NativeWalWriter> = {
  id: 'number',
  recovery: 'object',
  stats: 'function',
  durableSeq: 'function',
  takeIndexPoints: 'function',
  close: 'function',
};

/**
 * The members a wrapped class defines on its prototype, by kind: methods as 'function', accessors
 * (node-addon-api's InstanceAccessor) as the kind of the value they return on `instance`.
 */
function prototypeMembers(instance: object): Record<string, string> {
  const proto = Object.getPrototypeOf(instance) as object;
  const out: Record<string, string> = {};
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(proto, name)!;
    out[name] = d.get !== undefined ? typeof Reflect.get(instance, name) : typeof d.value;
  }
  return out;
}

/** The kinds as `typeof` shows them: a class is a function. */
function asTypeof(members: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(members).map(([name, kind]) => [name, kind === 'class' ? 'function' : kind]));
}

const addon = loadNative();
const work = mkdtempSync(join(tmpdir(), 'tapio-addon-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the addon as declared', () => {
  it.skipIf(typescriptOnlyAllowed())('loads here (a TypeScript-only run is asked for by name)', () => {
    expect(nativeMissingReason()).toBeNull();
  });

  it.skipIf(addon === null)('exports every declared name with its declared kind, and nothing else', () => {
    const loaded = Object.fromEntries(Object.getOwnPropertyNames(addon).map((name) => [name, typeof Reflect.get(addon!, name)]));
    expect(loaded).toEqual(asTypeof(addonExports));
  });

  it.skipIf(addon === null)('its classes have the declared members', () => {
    const ring = new addon!.NativeRing(1 << 16);
    expect(prototypeMembers(ring)).toEqual(ringMembers);
    expect(ring.push([new Uint8Array(3)])).toBe('ok');
    expect(ring.drain()).toBe(1);
  });

  it.skipIf(addon === null)('the writer openWal makes and the producer attached to it have the declared members', async () => {
    const writer = await addon!.openWal({ dir: work, segmentSize: 1 << 20, ringCapacity: 1 << 20, directIo: 'off', recovery: 'strict' });
    try {
      expect(prototypeMembers(writer)).toEqual(writerMembers);
      const producer = new addon!.NativeProducer(writer.id, () => undefined);
      expect(prototypeMembers(producer)).toEqual(producerMembers);
      producer.detach();
    } finally {
      await writer.close();
    }
  });
});
