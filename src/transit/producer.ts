/**
 * Appending from worker threads. The thread that opened the store hands out a producer handle
 * (`transit.producerHandle()`); a worker passes it to {@link attachProducer} and appends into
 * the same ring buffer, with the same durability: its promises resolve once the writer's
 * fdatasync covered the records.
 */
import type { MessagePort } from 'node:worker_threads';

import { TapioError, type TapioErrorCode, type TapioErrorDetails } from '../errors.js';
import { loadNative } from '../native/loader.js';
import type { AppendResult, BatchLimits, ProducerHandle } from './backend.js';
import { NativeAppender } from './native-wal.js';
import { RingBuffer } from './ring-buffer.js';
import { toBatch, type TransitRecordInput } from './batch.js';
import { batchInputError } from './wal-input.js';

/** What must be transferred (not copied) along with a handle in postMessage or workerData. */
export function transferList(handle: ProducerHandle): MessagePort[] {
  return handle.kind === 'typescript' ? [handle.port] : [];
}

/** An appender in a worker thread. */
export interface TransitProducer {
  /** Appends a batch; resolves `{ firstSeq, lastSeq }` once durable; waits while the ring is full. */
  append(records: readonly TransitRecordInput[]): Promise<AppendResult>;
  /** Appends, or returns false at once when the ring is full. */
  tryAppend(records: readonly TransitRecordInput[]): Promise<AppendResult> | false;
  /** Waits for this producer's pending appends, then detaches it. */
  close(): Promise<void>;
}

/**
 * Attaches a worker thread to the transit WAL of the thread that made `handle`.
 *
 * @example
 * ```ts
 * // main thread
 * const handle = storage.transit.producerHandle();
 * const worker = new Worker('./producer.js', { workerData: { handle }, transferList: transferList(handle) });
 * // producer.js
 * import { workerData } from 'node:worker_threads';
 * import { attachProducer } from 'tapio-storage';
 * const producer = attachProducer(workerData.handle);
 * await producer.append(['event from a worker']);
 * ```
 */
export function attachProducer(handle: ProducerHandle): TransitProducer {
  if (!isHandle(handle)) {
    throw new TapioError('ERR_INVALID_ARGUMENT', 'attachProducer(handle): pass the value transit.producerHandle() returned, unchanged');
  }
  if (handle.kind === 'native') {
    const addon = loadNative();
    if (!addon) throw new TapioError('ERR_NATIVE', 'the handle is for the native WAL but the addon does not load in this thread');
    return wrap(new NativeAppender(addon, handle.writerId, handle.limits));
  }
  return wrap(new TsRemoteAppender(handle));
}

function isHandle(h: unknown): h is ProducerHandle {
  if (h === null || typeof h !== 'object') return false;
  const v = h as Record<string, unknown>;
  const limits = v.limits as Record<string, unknown> | undefined;
  if (limits === null || typeof limits !== 'object' || !Number.isSafeInteger(limits.segmentSize) || !Number.isSafeInteger(limits.ringCapacity)) return false;
  if (v.kind === 'native') return Number.isSafeInteger(v.writerId);
  return v.kind === 'typescript' && v.ring instanceof SharedArrayBuffer && Number.isSafeInteger(v.producerId) && v.port !== null && typeof v.port === 'object';
}

interface Appender {
  append(records: Uint8Array[]): Promise<AppendResult>;
  tryAppend(records: Uint8Array[]): Promise<AppendResult> | null;
  settled(): Promise<void>;
  detach(): void;
}

function wrap(appender: Appender): TransitProducer {
  let closed = false;
  const check = (what: string): void => {
    if (closed) throw new TapioError('ERR_CLOSED', `producer.${what}() after close()`);
  };
  return {
    append(records) {
      check('append');
      return appender.append(toBatch(records, 'producer.append'));
    },
    tryAppend(records) {
      check('tryAppend');
      return appender.tryAppend(toBatch(records, 'producer.tryAppend')) ?? false;
    },
    async close() {
      if (closed) return;
      closed = true;
      await appender.settled();
      appender.detach();
    },
  };
}

/** What the writer posts to a worker: an outcome (`ticket`), or the end of the WAL. */
interface RemoteMessage {
  ticket?: bigint;
  firstSeq?: number;
  lastSeq?: number;
  error?: string;
  code?: TapioErrorCode;
  failed?: string;
  /** The error's details (the writer's failure: file, operation, errno name), as the thread that writes has them. */
  details?: TapioErrorDetails;
  closed?: boolean;
}

/** The options that give an error the details a message carried, if any. */
function withDetails(m: RemoteMessage): { details?: TapioErrorDetails } {
  return m.details === undefined ? {} : { details: m.details };
}

/** The worker side of the TypeScript WAL: pushes into the shared ring, hears back on a port. */
class TsRemoteAppender implements Appender {
  readonly #ring: RingBuffer;
  readonly #port: MessagePort;
  readonly #producerId: number;
  readonly #limits: BatchLimits;
  readonly #pending = new Map<bigint, { resolve(r: AppendResult): void; reject(e: Error): void }>();
  #failure: TapioError | null = null;
  #idle: Array<() => void> = [];

  constructor(handle: Extract<ProducerHandle, { kind: 'typescript' }>) {
    this.#ring = RingBuffer.attach(handle.ring);
    this.#port = handle.port;
    this.#producerId = handle.producerId;
    this.#limits = handle.limits;
    this.#port.on('message', (m: RemoteMessage) => this.#onMessage(m));
    this.#port.unref();
  }

  #onMessage(m: RemoteMessage): void {
    if (m.failed !== undefined || m.closed) {
      this.#failure ??=
        m.failed !== undefined ? new TapioError('ERR_WAL_IO', m.failed, withDetails(m)) : new TapioError('ERR_CLOSED', 'the transit WAL was closed');
      for (const d of this.#pending.values()) d.reject(this.#failure);
      this.#pending.clear();
    } else if (m.ticket !== undefined) {
      const d = this.#pending.get(m.ticket);
      this.#pending.delete(m.ticket);
      if (d && m.error !== undefined) d.reject(new TapioError(m.code ?? 'ERR_WAL_IO', m.error, withDetails(m)));
      else if (d) d.resolve({ firstSeq: m.firstSeq!, lastSeq: m.lastSeq! });
    }
    if (this.#pending.size === 0) {
      this.#port.unref();
      const idle = this.#idle;
      this.#idle = [];
      for (const f of idle) f();
    }
  }

  async append(records: Uint8Array[]): Promise<AppendResult> {
    for (;;) {
      const p = this.tryAppend(records);
      if (p !== null) return p;
      // The writer frees space as it drains; the timeout only bounds a missed wake-up.
      await this.#ring.waitForSpace(50);
    }
  }

  tryAppend(records: Uint8Array[]): Promise<AppendResult> | null {
    if (this.#failure) return Promise.reject(this.#failure);
    const refused = batchInputError(records, this.#limits);
    if (refused !== null) return Promise.reject(refused);
    const r = this.#ring.push(records, this.#producerId);
    if (r === 'full') return null;
    if (r === 'too-large') {
      return Promise.reject(new TapioError('ERR_RECORD_TOO_LARGE', 'the batch is larger than half the ring buffer; split it or raise transit.ring_capacity'));
    }
    const ticket = this.#ring.lastPushTicket;
    const promise = new Promise<AppendResult>((resolve, reject) => this.#pending.set(ticket, { resolve, reject }));
    this.#port.ref();
    this.#port.postMessage('kick');
    return promise;
  }

  settled(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  detach(): void {
    this.#port.close();
  }
}
