// The last guarantee of a bounded stop. The drain timer in main.ts runs on the event loop; a loop kept busy
// by a dependency that misbehaves (a reconnect storm, a promise chain that never yields to timers) would
// never run it. This watchdog waits on a thread of its own and kills the process when the loop did not
// end it in time, after writing why (a pino-shaped JSON line, so log pipelines keep it).
import { Worker } from 'node:worker_threads';

const CODE = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
let waitingFor = workerData.waitingFor;
parentPort.on('message', (m) => { waitingFor = String(m); });
setTimeout(() => {
  const line = { level: 60, time: Date.now(), pid: workerData.pid, drainTimeoutMs: workerData.drainTimeoutMs, waitingFor,
    msg: 'drain timeout: the process did not stop within drain_timeout_ms and its event loop did not answer; killing it (nothing after the last commit was committed)' };
  try { fs.writeSync(2, JSON.stringify(line) + '\\n'); } catch {}
  process.kill(workerData.pid, 'SIGKILL');
}, workerData.ms);
`;

export interface Watchdog {
  /** Tells the watchdog what the stop is waiting for now (it is written if the watchdog fires). */
  waitingFor(what: string): void;
  cancel(): void;
}

/**
 * Starts the watchdog: `graceMs` after `drainTimeoutMs` the process is killed (SIGKILL, so the exit is
 * non-zero whatever the event loop is doing). It never keeps the process alive.
 */
export function startWatchdog(drainTimeoutMs: number, waitingFor: string, graceMs = 5000): Watchdog {
  // No execArgv: the thread needs no loader (tsx hooks would tie its start to the main thread's loop).
  const worker = new Worker(CODE, { eval: true, execArgv: [], workerData: { ms: drainTimeoutMs + graceMs, drainTimeoutMs, pid: process.pid, waitingFor } });
  worker.unref();
  worker.on('error', () => undefined);
  return {
    waitingFor: (what) => worker.postMessage(what),
    cancel: () => void worker.terminate(),
  };
}
