/** A counter of event-loop turns: it moves on once per turn of the loop while `stop` is not called. */
export function turns(): { now(): number; stop(): void } {
  let turn = 0;
  let running = true;
  const tick = (): void => {
    turn++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  return { now: () => turn, stop: () => (running = false) };
}
