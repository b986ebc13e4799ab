// The lag's outside half: every second the server's position is asked for on a connection of its own and
// compared with what the reader received (progress.ts turns that into seconds). A probe that fails drops its
// connection and counts as "not known to be caught up".
import type { ConnectionOptions } from 'mysql2';
import { LagTracker } from './progress.js';
import type { BinlogPoint } from './rows.js';
import { openSnapshotConnection } from './snapshot.js';
import { masterStatus, type SqlConnection } from './sql.js';

/** How often the server's position is probed for the lag. */
const LAG_PROBE_MS = 1_000;

export class LagProbe {
  readonly lag = new LagTracker();
  private conn: SqlConnection | undefined;
  private probing = false;
  private ended = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly dsn: ConnectionOptions, private readonly received: () => BinlogPoint | undefined, private readonly report: () => void) {
    this.timer = setInterval(() => void this.probe(), LAG_PROBE_MS);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    if (this.probing || this.ended) return;
    this.probing = true;
    try {
      this.conn ??= await openSnapshotConnection(this.dsn);
      if (this.ended) throw new Error('stopped');
      const at = Date.now();
      const server = await masterStatus(this.conn);
      this.lag.probed(server, this.received(), at);
    } catch {
      this.lag.probeFailed(Date.now());
      await this.dropConnection();
    } finally {
      this.probing = false;
    }
    if (this.ended) {
      // The stream ended while this probe ran: its connection is closed here, not left open.
      await this.dropConnection();
      return;
    }
    this.report();
  }

  private async dropConnection(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    await c?.end().catch(() => undefined);
  }

  /** Stops probing; a probe in flight closes its own connection when it ends. */
  stop(): void {
    clearInterval(this.timer);
    this.ended = true;
  }

  async close(): Promise<void> {
    this.stop();
    if (!this.probing) await this.dropConnection();
  }
}
