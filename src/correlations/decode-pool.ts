/**
 * Threads that decode segment row groups for queries, shared by every store of the process.
 * A query hands over (file, row group, columns) and gets back an Arrow IPC stream, which it turns
 * into columns on its own thread; the WebAssembly decode, the longest step of a scan, runs
 * beside the event loop, and with more than one core several row groups decode at once.
 *
 * Requests wait in one queue, and a free thread takes the one whose query has had the least
 * time so far (its `Pace`), or the oldest once it has waited DECODE_MAX_WAIT_MS: a short query
 * beside long ones waits for at most the row groups already being decoded, not for every row
 * group the long ones asked for before it, and a long one is not held back for good by a stream
 * of short ones.
 *
 * Threads start when a store with segments opens (or when needed), hold the process open only
 * while they work, and all but one end after IDLE_MS without work (their WebAssembly memory goes
 * with them). Where a thread cannot start
 * (the compiled worker is missing), queries decode on their own thread as before.
 */
import { availableParallelism } from 'node:os';
import { sep } from 'node:path';
import { Worker } from 'node:worker_threads';

import { TapioError, type TapioErrorCode } from '../errors.js';
import { compiledWorker } from '../worker-path.js';
import { leastServed, type Pace } from '../query/breathe.js';
import { segmentReads } from './segment-file.js';

/** A row group to decode. */
export interface DecodeRequest {
  id: number;
  path: string;
  group: number;
  /** The columns to decode, or null for all. */
  columns: string[] | null;
}

/** What a thread answers: the IPC stream and the compressed bytes of the chunks read, or the error. */
export type DecodeReply =
  | { id: number; ok: true; ipc: Uint8Array; bytes: number; ms: number; opened: boolean }
  | { id: number; ok: false; code: string | null; message: string; ms: number };

/** Milliseconds a request waits at most while requests of queries that had less time go first. */
export const DECODE_MAX_WAIT_MS = 50;

/** Milliseconds a thread stays without work before it ends. */
export const IDLE_MS = 30_000;

/**
 * Threads by default: `TAPIO_DECODE_THREADS` when set (0 decodes on the query's own thread),
 * else one per core, at most four (the event loop's thread converts what they decode).
 */
export function defaultDecodeThreads(value: string | undefined = process.env.TAPIO_DECODE_THREADS): number {
  if (value !== undefined && value !== '') {
    const n = Number(value);
    if (Number.isInteger(n) && n >= 0 && n <= 64) return n;
    throw new TapioError('ERR_CONFIG', `TAPIO_DECODE_THREADS must be a whole number from 0 to 64, got ${JSON.stringify(value)}`);
  }
  return Math.max(1, Math.min(4, availableParallelism()));
}

interface Pending {
  request: DecodeRequest;
  pace: Pace;
  resolve: (r: { ipc: Uint8Array; bytes: number }) => void;
  /** Threads lost while decoding it: a request is tried on a new thread once. */
  lost: number;
  reject: (err: Error) => void;
  /** When it was asked for. */
  since: number;
}

interface Thread {
  worker: Worker;
  job: Pending | null;
  idle: NodeJS.Timeout | null;
  /** Files sent to it (it may have closed some since): a row group goes where its file is open. */
  files: Set<string>;
}

export class DecodePool {
  static #shared: DecodePool | null = null;

  /** The process's pool (created on first use). */
  static shared(): DecodePool {
    DecodePool.#shared ??= new DecodePool(defaultDecodeThreads());
    return DecodePool.#shared;
  }

  /**
   * Sets the number of threads of the process's pool; 0 makes queries decode on their own
   * thread. Threads at work finish their row group first.
   */
  static configure(threads: number): void {
    if (!Number.isInteger(threads) || threads < 0)
      throw new TapioError('ERR_INVALID_ARGUMENT', `decode threads must be a non-negative integer, got ${threads}`);
    DecodePool.shared().#size = threads;
  }

  readonly #path = compiledWorker(import.meta.url, 'decode-worker');
  readonly #threads: Thread[] = [];
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #lost = 0;
  #size: number;

  private constructor(size: number) {
    this.#size = size;
  }

  /** Whether queries should hand row groups to this pool (threads allowed and the worker built). */
  get enabled(): boolean {
    return this.#size > 0 && this.#path !== null;
  }

  /** Threads running now. */
  get threads(): number {
    return this.#threads.length;
  }

  /** Threads lost to an error (a WebAssembly trap) or an unexpected exit since the process started. */
  get lost(): number {
    return this.#lost;
  }

  /** Decodes `columns` of row group `group` of the segment at `path`, on behalf of the query `pace`. */
  decode(path: string, group: number, columns: string[] | null, pace: Pace): Promise<{ ipc: Uint8Array; bytes: number }> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ request: { id: this.#nextId++, path, group, columns }, pace, resolve, reject, lost: 0, since: performance.now() });
      this.#dispatch();
    });
  }

  /**
   * Starts the threads now (a store with segments opens), so that the first query does not wait
   * for them to load; they hold nothing and let the process exit.
   */
  warm(): void {
    if (!this.enabled) return;
    while (this.#threads.length < this.#size) {
      const t = this.#start();
      if (t === null) return;
      this.#rest(t);
    }
  }

  /** Drops what the threads keep open of a segment file, or of every file under a folder. */
  forget(path: string): void {
    const under = path.endsWith(sep) ? path : `${path}${sep}`;
    for (const t of this.#threads) {
      for (const f of t.files) if (f === path || f.startsWith(under)) t.files.delete(f);
      t.worker.postMessage({ forget: path });
    }
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      // The request of the query that has had the least time so far (or one waiting too long).
      const best = leastServed(this.#queue, performance.now(), DECODE_MAX_WAIT_MS);
      const path = this.#queue[best]!.request.path;
      const idle = this.#threads.filter((t) => t.job === null);
      let thread = idle.find((t) => t.files.has(path)) ?? idle[0] ?? null;
      if (thread === null) {
        if (this.#threads.length >= Math.max(1, this.#size)) return;
        thread = this.#start();
        if (thread === null) return;
      }
      const job = this.#queue.splice(best, 1)[0]!;
      thread.files.add(path);
      if (thread.idle !== null) clearTimeout(thread.idle);
      thread.idle = null;
      thread.job = job;
      thread.worker.ref();
      thread.worker.postMessage(job.request);
    }
  }

  #start(): Thread | null {
    if (this.#path === null) return null;
    const worker = new Worker(this.#path);
    const thread: Thread = { worker, job: null, idle: null, files: new Set() };
    worker.on('message', (reply: DecodeReply) => {
      const job = thread.job;
      thread.job = null;
      this.#rest(thread);
      if (job !== null && job.request.id === reply.id) {
        job.pace.attained += reply.ms;
        if (reply.ok) {
          segmentReads.rowGroups++;
          if (reply.opened) segmentReads.opens++;
          job.resolve({ ipc: reply.ipc, bytes: reply.bytes });
        } else {
          const code = (reply.code?.startsWith('ERR_') ? reply.code : 'ERR_SEGMENT_IO') as TapioErrorCode;
          job.reject(new TapioError(code, reply.message, { details: { file: job.request.path } }));
        }
      }
      this.#dispatch();
    });
    const lost = (why: string) => {
      const i = this.#threads.indexOf(thread);
      if (i < 0) return;
      this.#threads.splice(i, 1);
      this.#lost++;
      if (thread.idle !== null) clearTimeout(thread.idle);
      const job = thread.job;
      thread.job = null;
      void worker.terminate();
      if (job !== null) {
        // A WebAssembly trap leaves the thread's instance unusable, not the file unreadable: the
        // request goes to a new thread once, and fails the query only if it breaks that one too.
        if (job.lost++ === 0) this.#queue.unshift(job);
        else
          job.reject(new TapioError('ERR_SEGMENT_IO', `a decoding thread ${why} while reading ${job.request.path}`, { details: { file: job.request.path } }));
      }
      this.#dispatch();
    };
    worker.on('error', (err) => lost(`failed (${err.message})`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.#threads.push(thread);
    return thread;
  }

  /** A thread without work: lets the process exit, and ends after IDLE_MS. */
  #rest(thread: Thread): void {
    thread.worker.unref();
    thread.idle = setTimeout(() => {
      const i = this.#threads.indexOf(thread);
      // The last thread stays (it holds nothing open for the process): a query after a quiet
      // spell would otherwise wait for a thread to start and load its WebAssembly (about 0.3 s).
      if (i >= 0 && thread.job === null && this.#threads.length > 1) {
        this.#threads.splice(i, 1);
        void thread.worker.terminate();
      }
    }, IDLE_MS);
    thread.idle.unref();
  }
}
