// Dead letters are logged as counts, not a line per write: the first of each (flow, function, code) at once,
// with its reason; later ones summed and logged once per interval. The dead-letter topic holds every row and
// its reason; the log only has to say that it is filling, and why.
import type { Logger } from 'pino';
import type { DeadLetter } from '../core/dead-letter.js';

const SUMMARY_INTERVAL_MS = 10_000;

interface Tally {
  readonly flow: string;
  readonly fn: string;
  readonly code: string;
  readonly topic: string;
  rows: number;
  lastMessage: string;
}

export class DeadLetterLog {
  private readonly seen = new Set<string>();
  private readonly pending = new Map<string, Tally>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly logger: Logger, private readonly intervalMs = SUMMARY_INTERVAL_MS) {}

  record(topic: string, letters: readonly DeadLetter[]): void {
    for (const d of letters) {
      const key = `${d.flow}\u0000${d.fn}\u0000${d.code}`;
      if (!this.seen.has(key)) {
        this.seen.add(key);
        this.logger.warn({ flow: d.flow, fn: d.fn, code: d.code, topic, source: d.position?.source, partition: d.position?.partition, offset: d.position?.offset },
          `row dead-lettered: ${d.message} (more like it are counted every ${this.intervalMs / 1000} s)`);
        continue;
      }
      let t = this.pending.get(key);
      if (!t) this.pending.set(key, t = { flow: d.flow, fn: d.fn, code: d.code, topic, rows: 0, lastMessage: d.message });
      t.rows++;
      t.lastMessage = d.message;
    }
    if (this.pending.size > 0 && !this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Logs what was counted since the last summary. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const t of this.pending.values()) {
      this.logger.warn({ flow: t.flow, fn: t.fn, code: t.code, topic: t.topic, rows: t.rows },
        `${t.rows} more row${t.rows > 1 ? 's' : ''} dead-lettered by ${t.fn || 'the source'} (${t.code}); last: ${t.lastMessage}`);
    }
    this.pending.clear();
  }
}
