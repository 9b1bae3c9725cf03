// Child of the directory lock tests: takes the lock of a directory and holds it until its stdin
// ends (then releases it and exits), or until it is killed.
//   node dir-lock-child.mjs <dir> '<{"native": boolean, "abstractSockets": boolean}>' [idle]
// Prints "held <mechanisms joined by +>" or "error <code> <message>". With "idle", does not read
// stdin: the process has nothing left to do once the lock is taken, and must exit by itself.
// With "spawn", starts a long-lived child process of its own after taking the lock and adds its
// process id to the line: "held <mechanisms> <pid>".
import { spawn } from 'node:child_process';

import { lockDir } from '../../lib/fs/dir-lock.js';
import { loadNative } from '../../lib/native/loader.js';

const [dir, json, extra] = process.argv.slice(2);
const mode = JSON.parse(json);
const native = mode.native ? loadNative() : null;
if (mode.native && native === null) {
  process.stdout.write('error NO_ADDON the addon did not load\n');
  process.exit(1);
}
try {
  const lock = await lockDir(dir, { fileName: 'LOCK', what: 'test directory', native, abstractSockets: mode.abstractSockets });
  let grandchild = '';
  if (extra === 'spawn') {
    const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore', detached: true });
    c.unref();
    grandchild = ` ${c.pid}`;
  }
  process.stdout.write(`held ${lock.mechanisms.join('+')}${grandchild}\n`);
  if (extra !== 'idle') {
    process.stdin.resume();
    process.stdin.on('end', async () => {
      await lock.release();
      process.exit(0);
    });
  }
} catch (err) {
  process.stdout.write(`error ${err.code} ${err.message}\n`);
}
