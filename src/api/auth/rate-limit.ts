// Login failures counted per user name and per client address in a fixed window: past the limit, a login is
// refused (429) without looking at the password, so guessing costs the guesser time and not our CPU
// (each scrypt check costs tens of ms and 32 MiB).
export interface RateLimitOptions {
  /** Failures of one user name within the window before it is locked. Default 5. */
  readonly perUser?: number;
  /** Failures from one address within the window before it is locked. Default 20. */
  readonly perAddress?: number;
  /** Default 15 minutes. */
  readonly windowMs?: number;
}

export class LoginLimiter {
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly perUser: number;
  private readonly perAddress: number;
  private readonly windowMs: number;

  constructor(opts: RateLimitOptions = {}) {
    this.perUser = opts.perUser ?? 5;
    this.perAddress = opts.perAddress ?? 20;
    this.windowMs = opts.windowMs ?? 15 * 60_000;
  }

  private count(key: string, now: number): { count: number; since: number } {
    const slot = this.failures.get(key);
    if (!slot || now - slot.since >= this.windowMs) return { count: 0, since: now };
    return slot;
  }

  /** ms until a login for `user` from `address` may be tried again; 0: now. */
  blockedFor(user: string, address: string, now: number): number {
    const u = this.count(`u:${user}`, now);
    const a = this.count(`a:${address}`, now);
    const waits = [
      u.count >= this.perUser ? u.since + this.windowMs - now : 0,
      a.count >= this.perAddress ? a.since + this.windowMs - now : 0,
    ];
    return Math.max(...waits);
  }

  failed(user: string, address: string, now: number): void {
    for (const key of [`u:${user}`, `a:${address}`]) {
      const slot = this.count(key, now);
      this.failures.set(key, { count: slot.count + 1, since: slot.since });
    }
    // Expired windows are dropped now and then so that a scan of names cannot grow the map without bound.
    if (this.failures.size > 10_000) {
      for (const [k, v] of this.failures) if (now - v.since >= this.windowMs) this.failures.delete(k);
    }
  }

  /** A successful login clears its user's count (not the address's: one good password does not excuse a scan). */
  succeeded(user: string): void {
    this.failures.delete(`u:${user}`);
  }
}
