// Charts' memory: per flow, one sample every status interval, kept for a fixed span in a ring buffer
// (bounded: a flow holds at most span / interval points; flows no longer sampled age out).
export interface Sample {
  readonly t: number;
}

export class HistoryRing<P extends Sample> {
  private readonly rings = new Map<string, { points: (P | undefined)[]; next: number; size: number }>();
  readonly capacity: number;

  constructor(readonly stepMs: number, readonly spanMs: number) {
    this.capacity = Math.max(1, Math.ceil(spanMs / stepMs));
  }

  add(key: string, point: P): void {
    let r = this.rings.get(key);
    if (!r) {
      r = { points: new Array<P | undefined>(this.capacity), next: 0, size: 0 };
      this.rings.set(key, r);
    }
    r.points[r.next] = point;
    r.next = (r.next + 1) % this.capacity;
    r.size = Math.min(this.capacity, r.size + 1);
  }

  /** The points of a key newer than `since`, oldest first. */
  get(key: string, since = -Infinity): P[] {
    const r = this.rings.get(key);
    if (!r) return [];
    const out: P[] = [];
    for (let i = 0; i < r.size; i++) {
      const p = r.points[(r.next - r.size + i + this.capacity) % this.capacity];
      if (p && p.t > since) out.push(p);
    }
    return out;
  }

  keys(): string[] {
    return [...this.rings.keys()];
  }

  /** Forgets keys whose newest point is older than the span (a flow removed by a reload). */
  prune(now: number): void {
    for (const [k, r] of this.rings) {
      const newest = r.points[(r.next - 1 + this.capacity) % this.capacity];
      if (!newest || now - newest.t > this.spanMs) this.rings.delete(k);
    }
  }
}
