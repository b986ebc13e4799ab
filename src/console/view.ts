// What every view is: a function that fills its host element and returns how to stop it (timers).
import { attempt } from './api.js';

export type Stop = () => void;
export type View = (host: HTMLElement) => Stop;

/** How often live views ask again. */
export const REFRESH_MS = 3000;

/** Runs `load` now and every REFRESH_MS until stopped; one request at a time. */
export function poll(load: () => Promise<void>): Stop {
  let stopped = false;
  let timer: number | undefined;
  const tick = (): void => {
    if (stopped) return;
    attempt(async () => {
      try { await load(); }
      finally { if (!stopped) timer = window.setTimeout(tick, REFRESH_MS); }
    });
  };
  tick();
  return () => {
    stopped = true;
    if (timer !== undefined) window.clearTimeout(timer);
  };
}
