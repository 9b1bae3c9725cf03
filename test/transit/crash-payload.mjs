// The deterministic payload of record `index` of batch `counter` of `appender` (crash tests).
export function payloadFor(appender, counter, index) {
  const head = `${appender}:${counter}:${index}:`;
  const length = head.length + ((appender * 7 + counter * 13 + index * 5) % 700);
  const out = new Uint8Array(length);
  for (let i = 0; i < head.length; i++) out[i] = head.charCodeAt(i);
  for (let i = head.length; i < length; i++) out[i] = (i * 31 + appender + counter) & 0xff;
  return out;
}

/** Parses "appender:counter:index:" at the start of a payload; null when it is not one. */
export function identify(data) {
  let text = '';
  for (let i = 0; i < Math.min(data.length, 40); i++) text += String.fromCharCode(data[i]);
  const m = /^(\d+):(\d+):(\d+):/.exec(text);
  return m ? { appender: Number(m[1]), counter: Number(m[2]), index: Number(m[3]) } : null;
}
