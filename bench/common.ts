// What every benchmark script shares: its settings from the environment, and a wall clock.

/** A non-negative whole number from the environment, or `fallback` when unset; anything else stops the run. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, found ${JSON.stringify(raw)}`);
  return n;
}

/** Wall-clock milliseconds with sub-millisecond resolution (producer and meter in one process share it). */
export const nowMs = (): number => performance.timeOrigin + performance.now();
