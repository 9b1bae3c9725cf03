/**
 * Where reads find their records without scanning: the first sequence number of every segment
 * (searched by bisection) and, per segment, a sparse list of (sequence number, byte offset)
 * entries, one for each record that reaches a multiple of INDEX_SPACING (format.ts
 * indexesRecord), so a record is at most about INDEX_SPACING bytes after an entry.
 *
 * Where the entries come from:
 * - recovery, for the segments it scans at open (the newest ones, from CHECKPOINT on);
 * - the writer (either path), for every record it writes and every segment it creates: the
 *   backend hands them over as triples (segment, sequence number, offset), a segment's creation
 *   as the triple of its first record's place (offset SEGMENT_HEADER_SIZE);
 * - `<segment>.idx` files for the sealed segments recovery does not scan: written here when a
 *   segment is sealed (best effort, no fsync: the file is a cache), read on first use, checked
 *   (magic, version, checksum, segment, store, first sequence number, order, bounds) and rebuilt
 *   by one scan of the segment when missing or damaged. The reader also checks the record at
 *   every entry it uses, and a wrong one makes the segment's entries rebuilt by a scan.
 *
 * Entries of sealed segments stay in memory for at most MAX_CACHED_SEGMENTS segments whose index
 * file exists (least recently used go first); those of the segment being written always.
 * Entries may run ahead of the durable records: readers never read past the durable end.
 * One thread (the facade's) uses an index.
 */
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

import { crc32c } from '../crc32c.js';
import { decodeSegmentHeader, readU32, readU64, storeIdFromHex, storeIdToHex } from './codec.js';
import {
  FORMAT_VERSION,
  INDEX_ENTRY_SIZE,
  INDEX_HEADER_SIZE,
  INDEX_MAGIC,
  INDEX_OFF_COUNT,
  INDEX_OFF_FIRST_SEQ,
  INDEX_OFF_LAST_SEQ,
  INDEX_OFF_SEGMENT,
  INDEX_OFF_SPACING,
  INDEX_OFF_STORE_ID,
  INDEX_OFF_VERSION,
  INDEX_SPACING,
  MAX_SEGMENT_SIZE,
  RECORD_ALIGN,
  SEGMENT_HEADER_SIZE,
  SEGMENT_HEADER_USED,
  indexFileName,
  indexesRecord,
  segmentFileName,
} from './format.js';
import { SegmentScanner } from './segment-scanner.js';
import { closeSegment, openSegment, readCounters, type OpenedSegment, type ReadLocator } from './wal-reader.js';
import type { SegmentFile } from './wal-dir.js';
import type { IndexSeed } from './backend.js';

/** Sealed segments whose entries stay in memory (about 16 KiB each for 64 MiB segments). */
export const MAX_CACHED_SEGMENTS = 256;
/** Segment files kept open between reads (their header read once). */
export const MAX_OPEN_SEGMENTS = 8;
/** An index file is read in one read of this many bytes when it fits (a segment of up to 256 MiB). */
const FIRST_INDEX_READ = 64 * 1024;

interface OpenHandle {
  opened: Promise<OpenedSegment | null>;
  users: number;
  /** Retention deleted the segment, or the index closed: close once unused. */
  dropped: boolean;
  lastUse: number;
}

interface Seg {
  number: number;
  firstSeq: number;
  name: string;
  path: string;
  /** Entries after the implicit one (firstSeq at SEGMENT_HEADER_SIZE); null when not in memory. */
  seqs: number[] | null;
  offsets: number[] | null;
  /** The entries in memory cover the segment from its start. */
  complete: boolean;
  /** A newer segment exists: this one takes no more records. */
  sealed: boolean;
  /** Its index file is known to exist and be good. */
  persisted: boolean;
  /** An entry did not hold its record: the next load scans the segment instead of reading the file. */
  distrusted: boolean;
  loading: Promise<void> | null;
  /** The load under way scans the segment when its index file is missing or fails a check. */
  loadingScans: boolean;
  lastUse: number;
}

/** The segment index of one open WAL directory. */
export class WalIndex implements ReadLocator {
  readonly storeId: string;
  readonly #dir: string;
  readonly #storeIdBytes: Uint8Array;
  #segs: Seg[] = [];
  #clock = 0;
  /** Index file writes, one after another; close() waits for them. */
  #writes: Promise<void> = Promise.resolve();
  /** Segment files open for reading, by number. */
  #handles = new Map<number, OpenHandle>();
  /** Handles being closed: close() waits for them, so that no segment file is open once it resolves. */
  readonly #closing = new Set<Promise<void>>();
  /** Segments whose entries may be dropped (sealed, with an index file): #evict() looks at these. */
  readonly #cached = new Set<Seg>();
  /** Loads under way: close() waits for them. */
  readonly #loads = new Set<Promise<void>>();
  #closed = false;

  /** Reads segments with direct I/O in blocks of this many bytes; 0: through the page cache. */
  readonly #directAlignment: number;

  /**
   * `directAlignment`: read segments with direct I/O in blocks of that many bytes (direct-read.ts),
   * for segments the native writer appends with O_DIRECT; 0 (default) reads through the page cache.
   */
  constructor(dir: string, seed: IndexSeed, directAlignment = 0) {
    this.#dir = dir;
    this.#directAlignment = directAlignment;
    this.storeId = seed.storeId;
    this.#storeIdBytes = storeIdFromHex(seed.storeId) ?? new Uint8Array(16);
    for (const s of seed.segments) {
      const seg = this.#newSeg(s.number, s.firstSeq);
      if (s.scanned) {
        seg.seqs = [];
        seg.offsets = [];
        seg.complete = true;
      }
      this.#segs.push(seg);
    }
    for (let i = 0; i + 1 < this.#segs.length; i++) this.#segs[i]!.sealed = true;
    this.absorb(seed.points);
    // Sealed segments recovery scanned: write down what it found (they have no file, or one from
    // before this open that the scan just confirmed).
    for (let i = 0; i + 1 < this.#segs.length; i++) {
      const seg = this.#segs[i]!;
      if (seg.complete) this.#persist(seg, this.#segs[i + 1]!.firstSeq - 1);
    }
    this.#evict();
    // Index files of segments the index does not hold (deleted, or set aside whole by salvage)
    // are removed: a cache nobody reads, which a later segment of that number must not meet.
    this.#writes = this.#writes.then(async () => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return;
      }
      for (const name of names) {
        const m = /^([0-9a-f]{16})\.idx$/.exec(name);
        if (m === null) continue;
        const number = Number(BigInt(`0x${m[1]}`));
        if (this.#find(number) === undefined) await unlink(join(dir, name)).catch(() => undefined);
      }
    });
  }

  /** Segments known, oldest first. */
  get segmentCount(): number {
    return this.#segs.length;
  }

  /** Takes entries from the writer or recovery: triples (segment, sequence number, byte offset). */
  absorb(points: ArrayLike<number>): void {
    for (let i = 0; i + 2 < points.length; i += 3) {
      const number = points[i]!;
      const seq = points[i + 1]!;
      const offset = points[i + 2]!;
      const last = this.#segs.at(-1);
      if (last === undefined || number > last.number) {
        if (offset !== SEGMENT_HEADER_SIZE) continue; // not a creation: nothing to hang it on
        const seg = this.#newSeg(number, seq);
        seg.seqs = [];
        seg.offsets = [];
        seg.complete = true;
        this.#segs.push(seg);
        if (last !== undefined) {
          last.sealed = true;
          // Just sealed: the most recently used (its entries are what a consumer reads next).
          last.lastUse = ++this.#clock;
          if (last.complete) this.#persist(last, seq - 1);
          this.#evict();
        }
        continue;
      }
      const seg = last.number === number ? last : this.#find(number);
      if (seg === undefined || seg.seqs === null || offset === SEGMENT_HEADER_SIZE) continue;
      const n = seg.seqs.length;
      if (n > 0 && seg.seqs[n - 1]! >= seq) continue;
      seg.seqs.push(seq);
      seg.offsets!.push(offset);
    }
  }

  /** Forgets the segments numbered below `number` (retention deleted them). */
  dropBefore(number: number): void {
    let k = 0;
    while (k < this.#segs.length && this.#segs[k]!.number < number) k++;
    if (k > 0) {
      const dropped = this.#segs.slice(0, k);
      this.#segs = this.#segs.slice(k);
      // After any write of their index files already queued, which would otherwise bring one back.
      this.#writes = this.#writes.then(async () => {
        for (const seg of dropped) await unlink(join(this.#dir, indexFileName(seg.number))).catch(() => undefined);
      });
    }
    for (const [n, h] of this.#handles) {
      if (n >= number) continue;
      h.dropped = true;
      if (h.users === 0) this.#closeHandle(n, h);
    }
  }

  /**
   * The segment open for reading, with its size and header. Sealed and active segments never
   * change their header or size, so a handle serves every read of the segment until retention
   * deletes it or the index closes; at most MAX_OPEN_SEGMENTS unused ones stay open.
   */
  async acquire(seg: SegmentFile): Promise<(OpenedSegment & { release(): void }) | null> {
    let h = this.#handles.get(seg.number);
    if (h === undefined || h.dropped) {
      if (this.#closed || this.#find(seg.number) === undefined) {
        // Not kept: closed by its release.
        const o = await openSegment(seg, this.#directAlignment);
        return o === null ? null : { ...o, release: () => void closeSegment(o).catch(() => undefined) };
      }
      h = { opened: openSegment(seg, this.#directAlignment), users: 0, dropped: false, lastUse: 0 };
      this.#handles.set(seg.number, h);
      const mine = h;
      const forget = (): void => {
        if (this.#handles.get(seg.number) === mine) this.#handles.delete(seg.number);
      };
      mine.opened.then((o) => {
        if (o === null) forget();
      }, forget);
    }
    const held = h;
    held.users++;
    held.lastUse = ++this.#clock;
    let o: OpenedSegment | null;
    try {
      o = await held.opened;
    } catch (err) {
      held.users--;
      throw err;
    }
    if (o === null) {
      held.users--;
      return null;
    }
    let released = false;
    return {
      ...o,
      release: () => {
        if (released) return;
        released = true;
        this.#release(seg.number, held);
      },
    };
  }

  #release(number: number, h: OpenHandle): void {
    h.users--;
    if (h.users > 0) return;
    if (h.dropped || this.#closed || this.#handles.get(number) !== h) {
      this.#closeHandle(number, h);
      return;
    }
    const unused = [...this.#handles].filter(([, x]) => x.users === 0);
    if (unused.length <= MAX_OPEN_SEGMENTS) return;
    unused.sort((a, b) => a[1].lastUse - b[1].lastUse);
    for (const [n, x] of unused.slice(0, unused.length - MAX_OPEN_SEGMENTS)) this.#closeHandle(n, x);
  }

  #closeHandle(number: number, h: OpenHandle): void {
    if (this.#handles.get(number) === h) this.#handles.delete(number);
    this.#track(h.opened.then((o) => (o === null ? undefined : closeSegment(o))));
  }

  /** A file being closed: close() waits for it. */
  #track(closing: Promise<void>): void {
    const settled = closing.catch(() => undefined);
    this.#closing.add(settled);
    void settled.then(() => this.#closing.delete(settled));
  }

  /** Closes the segment files no read uses (the others when their reads end) and waits for that and for index file writes. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [n, h] of [...this.#handles]) {
      h.dropped = true;
      if (h.users === 0) this.#closeHandle(n, h);
    }
    while (this.#loads.size > 0) await Promise.allSettled([...this.#loads]);
    while (this.#closing.size > 0) await Promise.all([...this.#closing]);
    await this.#writes;
  }

  /**
   * The segments from the one that holds `seq` (the oldest when `seq` is older), by number, up to
   * the first one that starts after `lastSeq`: a read's list costs what the read can reach, not
   * what the store holds.
   */
  segmentsFrom(seq: number, lastSeq = Infinity): SegmentFile[] {
    const segs = this.#segs;
    // The last segment whose first sequence number is at most seq.
    let lo = 0;
    let hi = segs.length - 1;
    let at = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (segs[mid]!.firstSeq <= seq) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    const out: SegmentFile[] = [];
    for (let i = at; i < segs.length; i++) {
      const s = segs[i]!;
      out.push({ number: s.number, name: s.name, path: s.path });
      if (s.firstSeq > lastSeq) break;
    }
    return out;
  }

  /** The sequence number of the first record of segment `number` (undefined when it is not listed). */
  firstSeqOf(number: number): number | undefined {
    return this.#find(number)?.firstSeq;
  }

  /**
   * Loads the entries of sealed segment `number` when its index file is there (a read of a small
   * file), so that entryAfter() can tell where a read's records end. A missing file is left so,
   * where rebuilding the entries would scan the segment; a damaged one is rebuilt by that scan,
   * as any read that needs the entries would.
   */
  async loadFiled(number: number): Promise<void> {
    const seg = this.#find(number);
    if (seg === undefined || seg.seqs !== null || !seg.sealed || seg.distrusted) return;
    seg.lastUse = ++this.#clock;
    // Opening the file is how its absence is found: no separate check of it first.
    await this.#load(seg, false);
  }

  /** A record at or before `seq` in segment `number`: its sequence number and byte offset. */
  async entryFor(number: number, seq: number): Promise<{ seq: number; offset: number }> {
    const seg = this.#find(number);
    if (seg === undefined || seq <= seg.firstSeq) return { seq: seg?.firstSeq ?? seq, offset: SEGMENT_HEADER_SIZE };
    seg.lastUse = ++this.#clock;
    if (seg.seqs === null) await this.#load(seg);
    const seqs = seg.seqs;
    if (seqs === null || seqs.length === 0 || seqs[0]! > seq) return { seq: seg.firstSeq, offset: SEGMENT_HEADER_SIZE };
    let lo = 0;
    let hi = seqs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (seqs[mid]! <= seq) lo = mid;
      else hi = mid - 1;
    }
    return { seq: seqs[lo]!, offset: seg.offsets![lo]! };
  }

  /** The first entry after `seq` in segment `number` when its entries are in memory, else null. */
  entryAfter(number: number, seq: number): { seq: number; offset: number } | null {
    const seg = this.#find(number);
    const seqs = seg?.seqs;
    if (seg === undefined || seqs === null || seqs === undefined || seqs.length === 0 || seqs[seqs.length - 1]! <= seq) return null;
    let lo = 0;
    let hi = seqs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid]! > seq) hi = mid;
      else lo = mid + 1;
    }
    return { seq: seqs[lo]!, offset: seg.offsets![lo]! };
  }

  /** The entry given for segment `number` did not hold its record: rebuild its entries by a scan. */
  async distrust(number: number): Promise<void> {
    const seg = this.#find(number);
    // Entries of a segment being written come from its writer or from recovery's scan: only an
    // index file can be wrong.
    if (seg === undefined || !seg.sealed) return;
    if (seg.loading !== null) await seg.loading;
    seg.seqs = seg.offsets = null;
    seg.complete = false;
    seg.persisted = false;
    seg.distrusted = true;
    await this.#load(seg);
  }

  #newSeg(number: number, firstSeq: number): Seg {
    const name = segmentFileName(number);
    return {
      number,
      firstSeq,
      name,
      path: join(this.#dir, name),
      seqs: null,
      offsets: null,
      complete: false,
      sealed: false,
      persisted: false,
      distrusted: false,
      loading: null,
      loadingScans: false,
      lastUse: 0,
    };
  }

  #find(number: number): Seg | undefined {
    const segs = this.#segs;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const n = segs[mid]!.number;
      if (n === number) return segs[mid];
      if (n < number) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The sequence number the segment after `seg` starts at, or null for the newest. */
  #nextFirstSeq(seg: Seg): number | null {
    const i = this.#segs.indexOf(seg);
    return i >= 0 && i + 1 < this.#segs.length ? this.#segs[i + 1]!.firstSeq : null;
  }

  /**
   * Brings a sealed segment's entries into memory: from its index file, or by a scan. With
   * `scan` false, only a missing index file leaves them out (a damaged one is rebuilt by the
   * scan all the same); a load with a scan asked for while one without runs waits for it and
   * then scans when it brought nothing.
   */
  #load(seg: Seg, scan = true): Promise<void> {
    if (seg.loading !== null) {
      if (!scan || seg.loadingScans) return seg.loading;
      return seg.loading.then(() => (seg.seqs === null ? this.#load(seg, true) : undefined));
    }
    seg.loadingScans = scan;
    seg.loading = (async () => {
      try {
        const next = this.#nextFirstSeq(seg);
        const lastSeq = next === null ? null : next - 1;
        if (!seg.distrusted) {
          const read = await this.#readFile(seg, lastSeq);
          if (read === 'missing' && !scan) return;
          if (read === null || read === 'missing') {
            // The file is to be written again (a write of it may also still be queued).
            seg.persisted = false;
          } else {
            seg.seqs = read.seqs;
            seg.offsets = read.offsets;
            seg.complete = true;
            seg.persisted = true;
            this.#cached.add(seg);
            return;
          }
        }
        const built = await this.#scan(seg);
        if (built === null) return; // unreadable: reads scan from the start and report the damage
        seg.seqs = built.seqs;
        seg.offsets = built.offsets;
        seg.complete = true;
        seg.distrusted = false;
        // A file is written when the scan reached the segment's last record, or, when segments
        // set aside whole follow it (its next neighbour in the index is not number + 1), any
        // record before the next one's first: its file names that neighbour's first - 1, as
        // the files written at open do.
        const skipsNext = this.#segs[this.#segs.indexOf(seg) + 1]?.number !== seg.number + 1;
        if (seg.sealed && lastSeq !== null && (built.lastSeq === lastSeq || (skipsNext && built.lastSeq < lastSeq))) this.#persist(seg, lastSeq);
      } finally {
        seg.loading = null;
        this.#evict();
      }
    })();
    const loading = seg.loading;
    this.#loads.add(loading);
    void loading.then(
      () => this.#loads.delete(loading),
      () => this.#loads.delete(loading),
    );
    return loading;
  }

  /** Drops the entries of the least recently used sealed segments beyond MAX_CACHED_SEGMENTS. */
  #evict(): void {
    // Only the segments whose entries can be dropped are looked at (not every segment known:
    // this runs after every load).
    const held: Seg[] = [];
    for (const s of this.#cached) {
      if (s.seqs === null || !s.sealed || !s.persisted || this.#find(s.number) !== s) this.#cached.delete(s);
      else if (s.loading === null) held.push(s);
    }
    if (held.length <= MAX_CACHED_SEGMENTS) return;
    held.sort((a, b) => a.lastUse - b.lastUse);
    for (const s of held.slice(0, held.length - MAX_CACHED_SEGMENTS)) {
      s.seqs = s.offsets = null;
      s.complete = false;
      this.#cached.delete(s);
    }
  }

  /** The entries of `seg`'s index file; 'missing' when there is none, null when it fails a check. */
  async #readFile(seg: Seg, lastSeq: number | null): Promise<{ seqs: number[]; offsets: number[] } | 'missing' | null> {
    let bytes: Buffer;
    let fh: FileHandle;
    try {
      fh = await open(join(this.#dir, indexFileName(seg.number)), 'r');
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : null;
    }
    try {
      // One read takes the whole file of a segment of up to 256 MiB (64 MiB by default: about
      // 16 KiB of entries); a longer file is read again, whole, at the size stat gives.
      const first = Buffer.allocUnsafe(FIRST_INDEX_READ);
      const { bytesRead } = await fh.read(first, 0, first.length, 0);
      if (bytesRead < first.length) bytes = first.subarray(0, bytesRead);
      else {
        const size = (await fh.stat()).size;
        if (size > INDEX_HEADER_SIZE + INDEX_ENTRY_SIZE * (MAX_SEGMENT_SIZE / INDEX_SPACING + 1) + 4) return null;
        bytes = Buffer.allocUnsafe(size);
        let done = 0;
        while (done < size) {
          const { bytesRead: n } = await fh.read(bytes, done, size - done, done);
          if (n === 0) return null;
          done += n;
        }
      }
    } catch {
      return null;
    } finally {
      // Not waited for here (the entries are in hand: a read need not wait another trip to the
      // thread pool for this); close() waits for it.
      this.#track(fh.close());
    }
    return decodeIndexFile(bytes, { segment: seg.number, firstSeq: seg.firstSeq, lastSeq, storeId: this.storeId });
  }

  /** Builds the entries of `seg` from its records; null when its header is unusable. */
  async #scan(seg: Seg): Promise<{ seqs: number[]; offsets: number[]; lastSeq: number } | null> {
    let fh;
    try {
      fh = await open(seg.path, 'r');
    } catch {
      return null;
    }
    readCounters.segmentsOpened++;
    try {
      const size = (await fh.stat()).size;
      const head = Buffer.alloc(SEGMENT_HEADER_USED);
      await fh.read(head, 0, SEGMENT_HEADER_USED, 0);
      readCounters.reads++;
      readCounters.bytesRead += SEGMENT_HEADER_USED;
      const decoded = decodeSegmentHeader(head);
      if (
        !decoded.ok ||
        decoded.header.segment !== seg.number ||
        decoded.header.firstSeq !== seg.firstSeq ||
        storeIdToHex(decoded.header.storeId) !== this.storeId
      )
        return null;
      const scanner = new SegmentScanner(fh, seg.path, Math.min(size, decoded.header.segmentSize), SEGMENT_HEADER_SIZE, { counters: readCounters });
      const seqs: number[] = [];
      const offsets: number[] = [];
      let lastSeq = seg.firstSeq - 1;
      try {
        for (;;) {
          const s = scanner.step();
          if (s.kind === 'need') {
            await scanner.fill();
            continue;
          }
          if (s.kind === 'record' && s.seq > lastSeq) {
            if (indexesRecord(s.offset, s.next - s.offset)) {
              seqs.push(s.seq);
              offsets.push(s.offset);
            }
            lastSeq = s.seq;
            continue;
          }
          if (s.kind === 'end' && !s.zeroHeader) break;
          // Damage (or a zeroed header with bytes after it): step over it to the next valid
          // record, as salvage would. Whether a read may skip it is for the read that meets it
          // to decide (it checks every record it steps over), so the entries, and a read that
          // starts after the damage, are the same with and without the index file.
          const found = await scanner.findValidAfter(s.offset + RECORD_ALIGN, lastSeq);
          if (found === null) break;
          scanner.seek(found);
        }
      } finally {
        await scanner.close();
      }
      return { seqs, offsets, lastSeq };
    } catch {
      return null;
    } finally {
      await fh.close();
    }
  }

  /** Queues the write of `seg`'s index file (temporary file, rename; a cache, so no fsync). */
  #persist(seg: Seg, lastSeq: number): void {
    if (seg.persisted || seg.seqs === null || this.#closed) return;
    const bytes = encodeIndexFile({ segment: seg.number, firstSeq: seg.firstSeq, lastSeq, storeId: this.#storeIdBytes, seqs: seg.seqs, offsets: seg.offsets! });
    const file = join(this.#dir, indexFileName(seg.number));
    seg.persisted = true;
    this.#cached.add(seg);
    this.#writes = this.#writes.then(async () => {
      if (this.#find(seg.number) !== seg) return; // retention took it meanwhile
      const temp = `${file}.tmp`;
      try {
        const fh = await open(temp, 'w', 0o600);
        try {
          await fh.write(bytes, 0, bytes.length, 0);
        } finally {
          await fh.close();
        }
        if (this.#find(seg.number) !== seg) {
          await unlink(temp);
          return;
        }
        await rename(temp, file);
      } catch {
        seg.persisted = false; // a cache: the next load scans
        await unlink(temp).catch(() => undefined);
      }
    });
  }
}

/** What an index file must agree with. */
export interface IndexFileExpect {
  segment: number;
  firstSeq: number;
  /** The segment's last sequence number when known (from the next segment's header). */
  lastSeq: number | null;
  storeId: string;
}

/** The bytes of an index file (docs/FORMAT.md "Sparse index"). */
export function encodeIndexFile(o: {
  segment: number;
  firstSeq: number;
  lastSeq: number;
  storeId: Uint8Array;
  seqs: readonly number[];
  offsets: readonly number[];
}): Buffer {
  const n = o.seqs.length;
  const b = Buffer.alloc(INDEX_HEADER_SIZE + INDEX_ENTRY_SIZE * n + 4);
  b.write(INDEX_MAGIC, 0, 'latin1');
  b.writeUInt32LE(FORMAT_VERSION, INDEX_OFF_VERSION);
  b.writeUInt32LE(n, INDEX_OFF_COUNT);
  b.writeBigUInt64LE(BigInt(o.segment), INDEX_OFF_SEGMENT);
  b.writeBigUInt64LE(BigInt(o.firstSeq), INDEX_OFF_FIRST_SEQ);
  b.writeBigUInt64LE(BigInt(o.lastSeq), INDEX_OFF_LAST_SEQ);
  b.set(o.storeId, INDEX_OFF_STORE_ID);
  b.writeUInt32LE(INDEX_SPACING, INDEX_OFF_SPACING);
  for (let i = 0; i < n; i++) {
    b.writeBigUInt64LE(BigInt(o.seqs[i]!), INDEX_HEADER_SIZE + INDEX_ENTRY_SIZE * i);
    b.writeBigUInt64LE(BigInt(o.offsets[i]!), INDEX_HEADER_SIZE + INDEX_ENTRY_SIZE * i + 8);
  }
  b.writeUInt32LE(crc32c(b.subarray(0, b.length - 4)), b.length - 4);
  return b;
}

/** The entries of an index file's bytes, or null when any check fails. */
export function decodeIndexFile(b: Buffer, expect: IndexFileExpect): { seqs: number[]; offsets: number[]; lastSeq: number } | null {
  if (b.length < INDEX_HEADER_SIZE + 4 || b.toString('latin1', 0, 8) !== INDEX_MAGIC) return null;
  const n = readU32(b, INDEX_OFF_COUNT);
  if (b.length !== INDEX_HEADER_SIZE + INDEX_ENTRY_SIZE * n + 4) return null;
  if (crc32c(b.subarray(0, b.length - 4)) !== readU32(b, b.length - 4)) return null;
  if (readU32(b, INDEX_OFF_VERSION) !== FORMAT_VERSION || readU32(b, INDEX_OFF_SPACING) !== INDEX_SPACING || readU32(b, INDEX_OFF_SPACING + 4) !== 0)
    return null;
  const firstSeq = readU64(b, INDEX_OFF_FIRST_SEQ);
  const lastSeq = readU64(b, INDEX_OFF_LAST_SEQ);
  if (readU64(b, INDEX_OFF_SEGMENT) !== expect.segment || firstSeq !== expect.firstSeq) return null;
  if (lastSeq + 1 < firstSeq || (expect.lastSeq !== null && lastSeq !== expect.lastSeq)) return null;
  if (storeIdToHex(b.subarray(INDEX_OFF_STORE_ID, INDEX_OFF_STORE_ID + 16)) !== expect.storeId) return null;
  const seqs: number[] = [];
  const offsets: number[] = [];
  let prevSeq = firstSeq;
  let prevOffset = SEGMENT_HEADER_SIZE;
  for (let i = 0; i < n; i++) {
    const seq = readU64(b, INDEX_HEADER_SIZE + INDEX_ENTRY_SIZE * i);
    const offset = readU64(b, INDEX_HEADER_SIZE + INDEX_ENTRY_SIZE * i + 8);
    // Ascending, within the segment's records, on a record boundary.
    if (seq < prevSeq || seq > lastSeq || offset < prevOffset || offset % 8 !== 0 || offset >= MAX_SEGMENT_SIZE) return null;
    if (i > 0 && (seq === prevSeq || offset === prevOffset)) return null;
    seqs.push(seq);
    offsets.push(offset);
    prevSeq = seq;
    prevOffset = offset;
  }
  return { seqs, offsets, lastSeq };
}
