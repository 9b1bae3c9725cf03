import { describe, expect, it } from 'vitest';

import { leastServed, Pace, phaseBusy, QUERY_MAX_WAIT_MS, QUERY_MAX_WAIT_QUERIES, QUERY_SLICE_MS, waitingQueries } from '../../src/query/breathe.js';

/** Runs on the CPU for `ms` (a query's synchronous step). */
function work(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('Pace: queries share the event loop', () => {
  it('does not yield before the query has run a slice, when nobody waits', async () => {
    const pace = new Pace();
    let yielded = false;
    setImmediate(() => (yielded = true));
    await pace.breathe();
    expect(yielded).toBe(false);
  });

  it('yields once the query has run a slice, and lets one waiting query in per turn of the loop', async () => {
    const order: string[] = [];
    const paces = ['a', 'b', 'c'].map((name) => ({ name, pace: new Pace() }));
    work(QUERY_SLICE_MS + 1);
    const done = paces.map(async ({ name, pace }) => {
      await pace.breathe();
      order.push(name);
    });
    expect(waitingQueries()).toBe(3);
    // The queue's turn was set before this one: after it, one query has run.
    await turn();
    expect(order.length).toBe(1);
    await new Promise<void>((r) => setImmediate(() => setImmediate(r)));
    expect(order.length).toBe(3);
    await Promise.all(done);
    expect(waitingQueries()).toBe(0);
  });

  it('lets in first the query that has had the least time', async () => {
    const long = new Pace();
    const longer = new Pace();
    const fresh = new Pace();
    long.attained = 200;
    longer.attained = 400;
    const order: string[] = [];
    work(QUERY_SLICE_MS + 1);
    const a = longer.breathe().then(() => order.push('longer'));
    const b = long.breathe().then(() => order.push('long'));
    // A new query arrives while they wait: once the loop has gone a slice without a turn, it
    // queues too, and runs ahead of them.
    work(QUERY_SLICE_MS + 1);
    const c = fresh.breathe().then(() => order.push('fresh'));
    await Promise.all([a, b, c]);
    expect(order).toEqual(['fresh', 'long', 'longer']);
  });

  it('counts only its own time: waiting for a decoding thread is not running', async () => {
    const pace = new Pace();
    pace.pause();
    work(QUERY_SLICE_MS + 2);
    pace.resume();
    const before = pace.attained;
    let yielded = false;
    setImmediate(() => (yielded = true));
    await pace.breathe();
    expect(yielded).toBe(false);
    expect(before).toBeLessThan(QUERY_SLICE_MS);
  });

  it('serves the oldest waiter once it has waited the longest allowed, so short queries cannot starve a long one', () => {
    const pace = (attained: number) => Object.assign(new Pace(), { attained });
    const queue = [
      { pace: pace(300), since: 100 },
      { pace: pace(2), since: 110 },
      { pace: pace(1), since: 120 },
    ];
    expect(leastServed(queue, 119, 20)).toBe(2);
    expect(leastServed(queue, 120, 20)).toBe(0);
    expect(leastServed([], 0, 20)).toBe(0);
  });

  it('lets a query with no time run ahead of ten long ones taking turns, however long they have waited', async () => {
    const order: string[] = [];
    const long = Array.from({ length: 10 }, (_, i) => {
      const p = new Pace();
      p.attained = 100 + i;
      return p;
    });
    const waits = long.map((p, i) => p.turn().then(() => order.push(`long${i}`)));
    // Each of them has now waited longer than QUERY_MAX_WAIT_MS, as queries taking turns do.
    work(QUERY_MAX_WAIT_MS + 5);
    const short = new Pace().turn().then(() => order.push('short'));
    await Promise.all([...waits, short]);
    expect(order[0]).toBe('short');
    expect(order.slice(1)).toEqual(long.map((_, i) => `long${i}`));
  });

  it('still serves the oldest first once it has waited QUERY_MAX_WAIT_MS per query in the queue', async () => {
    const order: string[] = [];
    const old = new Pace();
    old.attained = 500;
    const first = old.turn().then(() => order.push('old'));
    work(2 * QUERY_MAX_WAIT_MS + 5);
    const fresh = new Pace().turn().then(() => order.push('fresh'));
    await Promise.all([first, fresh]);
    expect(order).toEqual(['old', 'fresh']);
  });

  it('serves the oldest after QUERY_MAX_WAIT_MS for each of at most QUERY_MAX_WAIT_QUERIES queries, however many short ones wait', async () => {
    const order: string[] = [];
    const old = new Pace();
    old.attained = 5000;
    const waits = [old.turn().then(() => order.push('old'))];
    for (let i = 0; i < 2 * QUERY_MAX_WAIT_QUERIES; i++) {
      const p = new Pace();
      p.attained = 1;
      waits.push(p.turn().then(() => order.push(`short${i}`)));
    }
    work(QUERY_MAX_WAIT_MS * QUERY_MAX_WAIT_QUERIES + 5);
    await Promise.all(waits);
    expect(order[0]).toBe('old');
  });

  it('tells when the work of one phase of the loop has taken a slice, and starts over at the next turn', async () => {
    await turn();
    expect(phaseBusy()).toBe(false);
    expect(phaseBusy()).toBe(false);
    work(QUERY_SLICE_MS + 1);
    expect(phaseBusy()).toBe(true);
    await turn();
    expect(phaseBusy()).toBe(false);
  });

  it('turn() always waits for a turn of the loop, in the queue with the queries', async () => {
    const order: string[] = [];
    const a = new Pace();
    a.attained = 50;
    work(QUERY_SLICE_MS + 1);
    const first = a.breathe().then(() => order.push('query'));
    const second = new Pace().turn().then(() => order.push('request'));
    expect(waitingQueries()).toBe(2);
    await Promise.all([first, second]);
    // The request has had no time: it goes first.
    expect(order).toEqual(['request', 'query']);
  });
});
