// TurnBudget: short jobs run at once until a turn has spent its budget, then in later turns, in
// call order, never more than MAX_JOBS_PER_TURN in one turn.
import { describe, expect, it, vi } from 'vitest';

import { MAX_JOBS_PER_TURN, TurnBudget } from '../../src/metadata/turn-budget.js';
import { turns } from './helpers.js';

describe('TurnBudget', () => {
  it('runs a lone job at once, before the call returns', async () => {
    let ran = false;
    const budget = new TurnBudget((n: number) => {
      ran = true;
      return n + 1;
    });
    const result = budget.run(6);
    expect(ran).toBe(true);
    expect(await result).toBe(7);
  });

  it('spreads 10,000 jobs called in one loop over turns of at most MAX_JOBS_PER_TURN, in call order', async () => {
    const clock = turns();
    const perTurn = new Map<number, number>();
    const order: number[] = [];
    const budget = new TurnBudget((i: number) => {
      perTurn.set(clock.now(), (perTurn.get(clock.now()) ?? 0) + 1);
      order.push(i);
      return i * 2;
    });
    const results = await Promise.all(Array.from({ length: 10_000 }, (_, i) => budget.run(i)));
    clock.stop();
    expect(results).toEqual(Array.from({ length: 10_000 }, (_, i) => i * 2));
    expect(order).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(MAX_JOBS_PER_TURN);
    expect(perTurn.size).toBeGreaterThanOrEqual(Math.ceil(10_000 / MAX_JOBS_PER_TURN));
  });

  it('a job that throws rejects its own promise only, run at once or later', async () => {
    const budget = new TurnBudget((i: number) => {
      if (i === 1 || i === 2500) throw new Error(`job ${i}`);
      return i;
    });
    const jobs = Array.from({ length: 3000 }, (_, i) => budget.run(i));
    const settled = await Promise.allSettled(jobs);
    const rejected = settled.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : []));
    expect(rejected).toEqual(['job 1', 'job 2500']);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(2998);
  });

  it('calls run at once earlier in a turn count against its budget: the waiting ones wait for the next turn', async () => {
    // Each job takes 3 ms of a stand-in clock; the budget is 1 ms.
    let now = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      const ran: string[] = [];
      const budget = new TurnBudget(
        (name: string) => {
          ran.push(name);
          now += 3;
        },
        { budgetMs: 1 },
      );
      // From a timer, as from an I/O callback: 'a' runs at once and spends the turn's budget, 'b'
      // waits. The check phase of that same turn (where 'check phase' is noted, after the
      // budget's own setImmediate) must not run 'b' too.
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          const jobs = [budget.run('a'), budget.run('b')];
          setImmediate(() => ran.push('check phase'));
          void Promise.all(jobs).then(() => resolve());
        }, 0),
      );
      expect(ran).toEqual(['a', 'check phase', 'b']);
    } finally {
      clock.mockRestore();
    }
  });

  it('a call made in the check phase right after the turn ran waiting calls does not find a fresh budget', async () => {
    // Each job takes 3 ms of a stand-in clock; the budget is 1 ms: one job a turn, whatever phase
    // of the turn the calls come from.
    let now = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    const t = turns();
    try {
      const ranIn: Record<string, number> = {};
      const budget = new TurnBudget(
        (name: string) => {
          ranIn[name] = t.now();
          now += 3;
        },
        { budgetMs: 1 },
      );
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          void budget.run('a');
          // 'c' is called as soon as 'b' (run by the budget's check phase) resolves: in the same
          // check phase, where it must wait for a later turn.
          void budget
            .run('b')
            .then(() => budget.run('c'))
            .then(() => budget.run('d'))
            .then(() => resolve());
        }, 0),
      );
      expect(new Set(Object.values(ranIn)).size).toBe(4);
    } finally {
      t.stop();
      clock.mockRestore();
    }
  });

  it('with a smaller budget, runs fewer long jobs per turn: the job that crosses it still runs whole', async () => {
    // Each job takes 3 ms of a stand-in clock.
    let now = 0;
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      const turnsOf = async (budgetMs?: number): Promise<number[]> => {
        const t = turns();
        const ranIn: number[] = [];
        const budget = new TurnBudget(
          () => {
            ranIn.push(t.now());
            now += 3;
          },
          budgetMs === undefined ? {} : { budgetMs },
        );
        await Promise.all(Array.from({ length: 6 }, () => budget.run(undefined)));
        t.stop();
        return ranIn.map((turn) => turn - ranIn[0]!);
      };
      // The default 4 ms: the second job starts at 3 ms spent, so two a turn. The first two run at
      // once, which spends the budget of their turn: the next two run a turn later.
      expect(await turnsOf()).toEqual([0, 0, 2, 2, 3, 3]);
      // 1 ms: one a turn (after the turn whose budget the first one spent).
      expect(await turnsOf(1)).toEqual([0, 2, 3, 4, 5, 6]);
    } finally {
      clock.mockRestore();
    }
  });
});
