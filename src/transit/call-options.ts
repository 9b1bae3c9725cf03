/**
 * Checks of the options objects that transit calls take (read, subscribe): an options object
 * with a key the call does not know is refused, as the configuration refuses unknown keys, and a
 * value of the wrong type is quoted with its type, so `'1'` and `1n` are not both "1".
 */
import { editDistance } from '../config/load.js';
import { TapioError } from '../errors.js';

/**
 * A value as a message quotes it, with its type: `the string '1'`, `the bigint 1n`,
 * `the number 1.5`, `null`, `an array`.
 */
export function describeArgument(value: unknown): string {
  switch (typeof value) {
    case 'string': {
      const text = value.length > 40 ? `${value.slice(0, 37)}...` : value;
      return `the string ${JSON.stringify(text).replace(/^"|"$/g, "'")}`;
    }
    case 'bigint':
      return `the bigint ${value}n`;
    case 'number':
      return Number.isNaN(value) ? 'NaN' : `the number ${Object.is(value, -0) ? '-0' : String(value)}`;
    case 'boolean':
      return `the boolean ${value}`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      if (value === null) return 'null';
      return Array.isArray(value) ? 'an array' : 'an object';
  }
}

/**
 * Throws ERR_INVALID_ARGUMENT when `options` is not a plain options object or holds a key that is
 * not in `allowed`. `call` names the call in the message, such as `transit.read(options)`.
 *
 * @example
 * ```ts
 * checkOptionKeys({ limt: 2 }, ['fromSeq', 'limit'], 'transit.read(options)');
 * // ERR_INVALID_ARGUMENT: transit.read(options): unknown option 'limt'; did you mean 'limit'? The options are fromSeq, limit
 * ```
 */
export function checkOptionKeys(options: unknown, allowed: readonly string[], call: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TapioError('ERR_INVALID_ARGUMENT', `${call}: options must be an object such as { ${allowed[0]}: ... }, got ${describeArgument(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (allowed.includes(key)) continue;
    const suggestion = closest(key, allowed);
    throw new TapioError(
      'ERR_INVALID_ARGUMENT',
      `${call}: unknown option '${key}'${suggestion === null ? '' : `; did you mean '${suggestion}'?`}. The options are ${allowed.join(', ')}`,
      { details: { option: key, allowed: [...allowed], ...(suggestion === null ? {} : { suggestion }) } },
    );
  }
}

/** The allowed key nearest to `key` (same letters in another case, or at most two edits), or null. */
function closest(key: string, allowed: readonly string[]): string | null {
  const lower = key.toLowerCase();
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      bestDistance = distance;
      best = candidate;
    }
  }
  return best;
}
