/**
 * Waiting in tests: for a condition, with a deadline, never a fixed sleep followed by an
 * assertion (which passes on a fast machine and fails on a busy one, or passes when it
 * should not). `sleep` is for pacing a scenario (letting time pass on purpose), not for
 * waiting on the code under test.
 */
export { sleep } from '../../bep5/clock.js';

/**
 * One turn of the event loop: every promise callback already due has run when it resolves.
 * For asserting that something did NOT happen after a ManualClock advance (no real time
 * passes, so nothing can happen later for a reason the test does not control).
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Polls `check` until it returns true; throws saying what was awaited after `timeoutMs`. */
export async function pollUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Polls `read` until `done` holds for what it returned, and returns that; throws saying what
 * was awaited and what was last read after `timeoutMs`.
 */
export async function pollValue<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
    last = await read();
  }
  return last;
}
