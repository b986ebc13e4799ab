// How far the reader is behind the server: binlog points compared (by file and position, or by GTID where
// both sides have one), and the lag that follows. The lag reads 0 when the reader has received everything the
// server had committed at the last probe and nothing waits to be handed on; it grows from the commit time of
// the oldest transaction waiting, or from the first probe that found the server ahead and is not yet reached,
// or from the first probe that failed (a reader cut off cannot show that it is caught up).
import type { BinlogPoint } from './rows.js';

/** Binlog file names share a base and differ by a zero-padded sequence number, so they compare as text by length then value. */
function compareFiles(a: string, b: string): number {
  if (a === b) return 0;
  const na = Number(a.slice(a.lastIndexOf('.') + 1));
  const nb = Number(b.slice(b.lastIndexOf('.') + 1));
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na < nb ? -1 : 1;
  return a < b ? -1 : 1;
}

/** Negative when `a` is before `b` in the binlog, 0 at the same point, positive after it. */
export function comparePoints(a: Pick<BinlogPoint, 'file' | 'pos'>, b: Pick<BinlogPoint, 'file' | 'pos'>): number {
  const f = compareFiles(a.file, b.file);
  return f !== 0 ? f : a.pos - b.pos;
}

/** MariaDB GTID position '0-1-12,1-2-5' as domain -> sequence number; undefined for other formats. */
function mariaDomains(gtid: string): Map<string, bigint> | undefined {
  if (gtid === '') return undefined;
  const out = new Map<string, bigint>();
  for (const part of gtid.split(',')) {
    const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(part);
    if (!m) return undefined;
    out.set(m[1]!, BigInt(m[3]!));
  }
  return out;
}

/**
 * The reader has received everything up to `server`: its GTID position covers the server's (every domain at
 * least as far; the same set for MySQL), or its file and position are at or after the server's. GTIDs count
 * transactions only, so they also say "caught up" right after a rotation, where positions cannot.
 */
export function reached(received: BinlogPoint | undefined, server: BinlogPoint): boolean {
  if (!received) return false;
  if (received.gtid !== '' && server.gtid !== '') {
    const r = mariaDomains(received.gtid);
    const s = mariaDomains(server.gtid);
    if (r && s) {
      let all = true;
      for (const [d, n] of s) if ((r.get(d) ?? -1n) < n) all = false;
      if (all) return true;
    } else if (received.gtid.replace(/\s/g, '') === server.gtid.replace(/\s/g, '')) {
      return true;
    }
  }
  return server.file !== '' && comparePoints(received, server) >= 0;
}

const MAX_PROBES = 64;

export class LagTracker {
  /** Probes that found the server ahead of the reader, oldest first, not yet reached. */
  private behind: Array<{ at: number; point: BinlogPoint }> = [];
  private failingSince: number | undefined;

  /** A probe of the server's position at `now`; `received` is what the reader has received by then. */
  probed(server: BinlogPoint, received: BinlogPoint | undefined, now: number): void {
    this.failingSince = undefined;
    this.advance(received);
    if (!reached(received, server) && this.behind.length < MAX_PROBES) this.behind.push({ at: now, point: server });
  }

  /** The server could not be asked (down, unreachable). */
  probeFailed(now: number): void {
    this.failingSince ??= now;
  }

  /** Drops the probes the reader has reached since. */
  advance(received: BinlogPoint | undefined): void {
    while (this.behind.length > 0 && reached(received, this.behind[0]!.point)) this.behind.shift();
  }

  /** Seconds of lag now; `oldestWaitingMs`: commit time of the oldest transaction received and not yet handed on. */
  seconds(now: number, oldestWaitingMs: number | undefined): number {
    let from = now;
    if (oldestWaitingMs !== undefined && oldestWaitingMs > 0) from = Math.min(from, oldestWaitingMs);
    if (this.behind.length > 0) from = Math.min(from, this.behind[0]!.at);
    if (this.failingSince !== undefined) from = Math.min(from, this.failingSince);
    return Math.max(0, (now - from) / 1000);
  }
}
