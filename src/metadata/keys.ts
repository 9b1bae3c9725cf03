/**
 * The key space of the metadata store. Every key is a string `<table>:<part>[:<part>]`; lmdb
 * stores string keys as their UTF-8 bytes (control characters are refused by the schemas, so
 * lmdb's ordered-binary escapes never apply), and both backends order keys by those bytes.
 */

/** Key prefixes, one per table. Each ends with ':'. */
export const PREFIX = {
  meta: 'meta:',
  users: 'users:',
  usersByName: 'users_by_name:',
  usersByFoldedName: 'users_by_folded_name:',
  apiKeys: 'api_keys:',
  apiKeysByUser: 'api_keys_by_user:',
  resources: 'resources:',
  checkpoints: 'checkpoints:',
} as const;

/** The record that names the store kind and format version. */
export const FORMAT_KEY = 'meta:format';

export const userKey = (id: string): string => PREFIX.users + id;
export const userByNameKey = (name: string): string => PREFIX.usersByName + name;
/**
 * A user name as uniqueness compares it: Unicode NFC, then lower case (locale-independent), so
 * `Alice`, `ALICE` and `alice` are one name, and so are the composed and decomposed forms of `é`.
 */
export const foldUserName = (name: string): string => name.normalize('NFC').toLowerCase();
export const userByFoldedNameKey = (name: string): string => PREFIX.usersByFoldedName + foldUserName(name);
export const apiKeyKey = (keyId: string): string => PREFIX.apiKeys + keyId;
export const apiKeysOfUserPrefix = (userId: string): string => `${PREFIX.apiKeysByUser}${userId}:`;
export const apiKeyOfUserKey = (userId: string, keyId: string): string => `${PREFIX.apiKeysByUser}${userId}:${keyId}`;
export const resourcesOfTypePrefix = (type: string): string => `${PREFIX.resources}${type}:`;
export const resourceKey = (type: string, name: string): string => `${PREFIX.resources}${type}:${name}`;
export const checkpointKey = (name: string): string => PREFIX.checkpoints + name;

/**
 * The first key after every key that starts with `prefix`. Prefixes end with ':' (0x3a), so
 * the bound is the same prefix ending with ';' (0x3b).
 */
export function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

/**
 * Orders two strings by their UTF-8 bytes, which is Unicode code point order. UTF-16 code units
 * agree with it except that surrogates (code points above U+FFFF) must sort after U+E000..U+FFFF;
 * the shift below moves them there. Lone surrogates never reach a key (the schemas refuse them).
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca === cb) continue;
    if (ca >= 0xd800) ca += ca < 0xe000 ? 0x2000 : -0x800;
    if (cb >= 0xd800) cb += cb < 0xe000 ? 0x2000 : -0x800;
    return ca - cb;
  }
  return a.length - b.length;
}
