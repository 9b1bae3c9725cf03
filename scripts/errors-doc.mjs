#!/usr/bin/env node
// Writes docs/errors.md from the code table in src/errors.ts (via the compiled lib/errors.js),
// so the list of codes and the document never drift apart. A test checks the file is current.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function renderErrorsDoc(codes, status) {
  const lines = [
    '# Errors',
    '',
    "Every error tapio-storage throws or rejects with is a `TapioError` (`import { TapioError } from 'tapio-storage'`):",
    'an `Error` with a stable string `code`, a `message` that says what was wrong and what to do, a `cause` where',
    'another error lies underneath (a file-system error, an lmdb error), and `details` with structured facts for some',
    'codes (the problems of a configuration, the segment and offset of a corrupt record).',
    '',
    '```ts',
    "import { TapioError } from 'tapio-storage';",
    'try {',
    "  await storage.transit.append(['event']);",
    '} catch (err) {',
    "  if (err instanceof TapioError && err.code === 'ERR_WAL_IO') { /* the disk failed: reopen later */ }",
    '}',
    '```',
    '',
    'Codes never change meaning; new ones may be added. Errors from the native addon are built from the same class,',
    'so the code is the same on the native and the TypeScript path. The command line prints `error <CODE>: <message>`',
    'and exits with status 1. The HTTP service answers an error with its status below and the JSON body',
    '`{ "error": { "code", "message" } }` (plus `details` where the error has them).',
    '',
    '| code | HTTP | what it means | what to do |',
    '|---|---|---|---|',
  ];
  for (const [code, { meaning, action }] of Object.entries(codes)) {
    lines.push(`| \`${code}\` | ${status[code]} | ${meaning.replace(/\|/g, '\\|')} | ${action.replace(/\|/g, '\\|')} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { ERROR_CODES, HTTP_STATUS } = await import(pathToFileURL(join(root, 'lib', 'errors.js')).href);
  writeFileSync(join(root, 'docs', 'errors.md'), renderErrorsDoc(ERROR_CODES, HTTP_STATUS));
  console.log('wrote docs/errors.md');
}
