/** Which budget a guess found full, and how long until its window ends. */
export interface FullBudget {
  by: 'address' | 'name';
  retryInMs: number;
}

export interface AuthFailureLimits {
  windowMs: number;
  perAddress: number;
  perName: number;
}

/**
 * Port: the wrong-password counters of AuthFailureLimiter, per client address and per server name, each
 * in a window of `windowMs` from its first guess. In this process, or shared by every instance on one
 * Redis, so that N instances do not give a guesser N times the budget. Each call is one atomic step;
 * times are the caller's clock.
 */
export abstract class AuthFailureCounters {
  /**
   * When neither `address` nor `name` has used its budget in its current window, counts one guess against
   * both and answers undefined; otherwise counts nothing and answers the full one (the address first).
   */
  abstract begin(name: string, address: string, limits: AuthFailureLimits, now: number): Promise<FullBudget | undefined>;
  /** Gives back one guess counted by {@link begin} (it was the right password), in the windows still current. */
  abstract giveBack(name: string, address: string, limits: AuthFailureLimits, now: number): Promise<void>;
  /** Forgets windows that ended by `now` (a store whose entries expire by themselves may do nothing). */
  abstract prune(now: number, windowMs: number): void;
}

interface Window {
  start: number;
  count: number;
}

/** The counters in this process (the default store). */
export class InMemoryAuthFailureCounters extends AuthFailureCounters {
  private readonly byAddress = new Map<string, Window>();
  private readonly byName = new Map<string, Window>();

  begin(name: string, address: string, limits: AuthFailureLimits, now: number): Promise<FullBudget | undefined> {
    const fromAddress = this.current(this.byAddress, address, limits.windowMs, now);
    const forName = this.current(this.byName, name, limits.windowMs, now);
    if (fromAddress && fromAddress.count >= limits.perAddress) return Promise.resolve({ by: 'address', retryInMs: fromAddress.start + limits.windowMs - now });
    if (forName && forName.count >= limits.perName) return Promise.resolve({ by: 'name', retryInMs: forName.start + limits.windowMs - now });
    this.increment(this.byAddress, address, fromAddress, now);
    this.increment(this.byName, name, forName, now);
    return Promise.resolve(undefined);
  }

  giveBack(name: string, address: string, limits: AuthFailureLimits, now: number): Promise<void> {
    for (const [counters, key] of [[this.byAddress, address], [this.byName, name]] as const) {
      const window = this.current(counters, key, limits.windowMs, now);
      if (window && window.count > 0) window.count -= 1;
    }
    return Promise.resolve();
  }

  prune(now: number, windowMs: number): void {
    for (const counters of [this.byAddress, this.byName]) {
      for (const [key, window] of counters) if (window.start + windowMs <= now) counters.delete(key);
    }
  }

  private current(counters: Map<string, Window>, key: string, windowMs: number, now: number): Window | undefined {
    const window = counters.get(key);
    return window && window.start + windowMs > now ? window : undefined;
  }

  private increment(counters: Map<string, Window>, key: string, window: Window | undefined, now: number): void {
    if (window) window.count += 1;
    else counters.set(key, { start: now, count: 1 });
  }
}
