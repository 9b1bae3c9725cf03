/**
 * `correlations.find()`: a query built one step at a time, with the power of the options object.
 * Each step returns a new builder (a builder can be kept and extended twice); awaiting one runs it.
 */
import type * as arrow from 'apache-arrow';

import type { CorrelationField } from '../correlations/record.js';
import type { CorrelationQuery, QueryOrder } from './options.js';
import type { QueryExplain } from '../correlations/query-exec.js';
import type { Selector } from './selector.js';

/** What a builder runs against (the correlation store). */
export interface QueryRunner<R> {
  query(q: CorrelationQuery & { format: 'arrow' }): Promise<arrow.Table>;
  query(q?: CorrelationQuery & { format?: 'records' }): Promise<R[]>;
  stream(q?: CorrelationQuery): AsyncGenerator<R>;
  explain(q?: CorrelationQuery): Promise<{ query: string; explain: QueryExplain; records: R[] }>;
}

/**
 * A query under construction. `where` steps combine (every selector must match).
 *
 * @example
 * ```ts
 * const rows = await storage.correlations
 *   .find()
 *   .where('type=attack')
 *   .where('nodes in (node-1,node-2)')
 *   .between(Date.now() - 3_600_000, Date.now())
 *   .limit(100);
 * ```
 */
export class FindBuilder<R = unknown> implements PromiseLike<R[]> {
  constructor(
    private readonly runner: QueryRunner<R>,
    private readonly q: CorrelationQuery = {},
  ) {}

  #with(change: CorrelationQuery): FindBuilder<R> {
    return new FindBuilder(this.runner, { ...this.q, ...change });
  }

  /** Keeps findings matching `selector` as well as any selector given before. */
  where(selector: string | Selector): FindBuilder<R> {
    const text = typeof selector === 'string' ? selector : selector.toString();
    const before = this.q.selector === undefined ? '' : typeof this.q.selector === 'string' ? this.q.selector : this.q.selector.toString();
    const joined = [before, text].filter((t) => t.trim() !== '').join(',');
    return this.#with({ selector: joined });
  }

  /** `from <= timestamp < to`. */
  between(from: Date | number, to: Date | number): FindBuilder<R> {
    return this.#with({ from, to });
  }

  /** Findings at or after `from`. */
  since(from: Date | number): FindBuilder<R> {
    return this.#with({ from });
  }

  /** Findings before `to`. */
  until(to: Date | number): FindBuilder<R> {
    return this.#with({ to });
  }

  /** Ranks by cosine similarity to a vector, or to the embedding of the stored finding with this id. */
  similar(to: Float32Array | readonly number[] | string, options: { threshold?: number; k?: number } = {}): FindBuilder<R> {
    return this.#with({ similar: { ...(typeof to === 'string' ? { id: to } : { embedding: to }), ...options } });
  }

  fields(...fields: CorrelationField[]): FindBuilder<R> {
    return this.#with({ fields });
  }

  orderBy(order: QueryOrder): FindBuilder<R> {
    return this.#with({ orderBy: order });
  }

  limit(n: number): FindBuilder<R> {
    return this.#with({ limit: n });
  }

  /** The options object this builder stands for. */
  toQuery(): CorrelationQuery {
    return { ...this.q };
  }

  /** Runs it: the records. */
  run(): Promise<R[]> {
    return this.runner.query({ ...this.q, format: 'records' });
  }

  /** Runs it: an Arrow table. */
  arrow(): Promise<arrow.Table> {
    return this.runner.query({ ...this.q, format: 'arrow' });
  }

  stream(): AsyncGenerator<R> {
    return this.runner.stream(this.q);
  }

  explain(): Promise<{ query: string; explain: QueryExplain; records: R[] }> {
    return this.runner.explain(this.q);
  }

  then<A = R[], B = never>(
    onfulfilled?: ((value: R[]) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.run().then(onfulfilled, onrejected);
  }
}
