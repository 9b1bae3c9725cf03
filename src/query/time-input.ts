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
