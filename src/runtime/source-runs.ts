// Runs the sources of a service, each under its own abort signal, so that the sources of one flow can be
// paused and resumed while the others go on (a rewind). A paused source stops as on a graceful stop (the
// batches in flight finish and commit, its consumers leave their groups) and runs again on resume, from the
// committed positions.
import type { Batch } from '../core/source.js';
import type { SourceBinding } from './assembly.js';

export class SourceRuns {
  private readonly paused = new Set<string>();
  private readonly running = new Map<SourceBinding, { ctl: AbortController; done: Promise<void> }>();
  private readonly waiting = new Map<SourceBinding, () => void>();

  constructor(private readonly dispatch: (batch: Batch, s: SourceBinding) => Promise<void>) {}

  /** Runs a source until `stop` aborts or (a finite source) its input ends; a pause in between is waited out. */
  async run(s: SourceBinding, stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      const ctl = new AbortController();
      const onStop = (): void => ctl.abort();
      stop.addEventListener('abort', onStop, { once: true });
      const done = s.source.run((b) => this.dispatch(b, s), ctl.signal);
      this.running.set(s, { ctl, done });
      try {
        await done;
      } finally {
        stop.removeEventListener('abort', onStop);
        this.running.delete(s);
      }
      if (stop.aborted || !this.isPaused(s)) return;
      await new Promise<void>((resolve) => {
        this.waiting.set(s, resolve);
        stop.addEventListener('abort', () => resolve(), { once: true });
      });
      this.waiting.delete(s);
    }
  }

  /** Stops the sources that feed the flow (and so the other flows they feed); resolves once they have stopped. */
  async pause(flowId: string, bindings: readonly SourceBinding[]): Promise<void> {
    this.paused.add(flowId);
    const stopping = bindings.filter((s) => s.flows.some((f) => f.id === flowId)).map((s) => this.running.get(s)).filter((r) => r !== undefined);
    for (const r of stopping) r.ctl.abort();
    await Promise.allSettled(stopping.map((r) => r.done));
  }

  /** Runs the flow's sources again (those that no other paused flow holds). */
  resume(flowId: string): void {
    this.paused.delete(flowId);
    for (const [s, go] of this.waiting) if (!this.isPaused(s)) go();
  }

  private isPaused(s: SourceBinding): boolean {
    return s.flows.some((f) => this.paused.has(f.id));
  }
}
