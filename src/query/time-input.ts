/** Points in time written as text (command-line flags, URL parameters). */
import { parseDuration } from '../config/units.js';
import { TapioError } from '../errors.js';

/**
 * A point in time as a command-line flag or a URL parameter gives it: an ISO date, epoch
 * milliseconds, or a duration ago ('15m'). Throws ERR_INVALID_ARGUMENT naming `option`.
 */
export function timeArg(option: string, value: string, now = Date.now()): number {
  if (/^\d+$/.test(value)) return Number(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const t = Date.parse(value);
    if (Number.isFinite(t)) return t;
  } else {
    try {
      return now - parseDuration(value);
    } catch {
      // fall through to the error below
    }
  }
  throw new TapioError(
    'ERR_INVALID_ARGUMENT',
    `${option} must be an ISO date (2026-12-06T10:00:00Z), epoch milliseconds, or a duration ago (15m, 1h, 7d), got ${JSON.stringify(value)}`,
  );
}

/**
 * The time range of a command or a request: `since` (a duration ago) or `from`, and `until`,
 * each text as timeArg takes it (or epoch milliseconds already). `prefix` goes before each name in
 * messages ('--' for flags). Throws ERR_INVALID_ARGUMENT naming the option.
 */
export function rangeArgs(
  q: { since?: string | undefined; from?: string | number | undefined; until?: string | number | undefined },
  prefix = '',
): { from?: number; to?: number } {
  const now = Date.now();
  if (q.since !== undefined && q.from !== undefined) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `${prefix}since and ${prefix}from both set the start of the range; give one`);
  }
  let from: number | undefined;
  if (q.since !== undefined) {
    try {
      from = now - parseDuration(q.since);
    } catch (err) {
      throw new TapioError('ERR_INVALID_ARGUMENT', `${prefix}since: ${(err as Error).message}`);
    }
  } else if (q.from !== undefined) from = typeof q.from === 'number' ? q.from : timeArg(`${prefix}from`, q.from, now);
  const to = q.until === undefined ? undefined : typeof q.until === 'number' ? q.until : timeArg(`${prefix}until`, q.until, now);
  return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
}
