import { HttpException, HttpStatus, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';

/** Wrong passwords are counted per minute (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE, ..._PER_NAME_PER_MINUTE). */
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** How often the counters are pruned and the summaries of finished windows logged. */
const TICK_MS = 5_000;
/** Addresses named in a summary line, and remembered per name (beyond that, not told apart). */
const ADDRESSES_LOGGED = 20;
const ADDRESSES_KEPT = 1000;

interface Window {
  start: number;
  count: number;
}

/** What one server name saw in its current window, for its log lines. */
interface NameActivity {
  start: number;
  wrong: number;
  refused: number;
  addresses: Set<string>;
}

function retryInSeconds(window: Window, now: number): number {
  return Math.max(1, Math.ceil((window.start + AUTH_FAILURE_WINDOW_MS - now) / 1000));
}

/**
 * Wrong server passwords (pop, submit), in a budget of their own: per client address
 * (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE) and per server name from any address
 * (RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE). Over either, a guess gets 429 before any password is
 * hashed. Only guesses count: a bridge whose password has already been verified is never checked here
 * (see ServersService), so an attacker flooding a name with wrong passwords spends neither that bridge's
 * pop budget nor its logins. RATE_LIMITS=off switches it off with the other limits.
 *
 * Logged without flooding the log: the first wrong password for a name in a minute is logged at once
 * (name and address, never the password), the rest of that minute in one summary line when it ends
 * (or at shutdown), with the count of wrong and refused guesses and the addresses they came from.
 */
@Injectable()
export class AuthFailureLimiter implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(AuthFailureLimiter.name);
  private readonly byAddress = new Map<string, Window>();
  private readonly byName = new Map<string, Window>();
  private readonly activity = new Map<string, NameActivity>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly config: AppConfig) {}

  onModuleInit(): void {
    if (!this.config.RATE_LIMITS) return;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
    this.tick(Infinity);
  }

  /**
   * Before a password that is not known to be right is checked: 429 when `address`, or anyone guessing
   * `name`, is out of wrong passwords for this minute; otherwise the guess is counted at once, so that
   * many guesses sent together cannot all pass before the first is found wrong. A right one is given
   * back with {@link guessWasRight}.
   */
  beginGuess(name: string, address: string, now = Date.now()): void {
    if (!this.config.RATE_LIMITS) return;
    const fromAddress = this.current(this.byAddress, address, now);
    const forName = this.current(this.byName, name, now);
    let message: string | undefined;
    if (fromAddress && fromAddress.count >= this.config.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE) {
      message =
        `Too many wrong passwords from your address (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: ${this.config.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE} a minute); ` +
        `try again in ${retryInSeconds(fromAddress, now)} s`;
    } else if (forName && forName.count >= this.config.RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE) {
      message =
        `Too many wrong passwords for server name ${JSON.stringify(name)} (RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE: ` +
        `${this.config.RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE} a minute); try again in ${retryInSeconds(forName, now)} s`;
    }
    if (message !== undefined) {
      this.note(name, address, 'refused', now);
      throw new HttpException(message, HttpStatus.TOO_MANY_REQUESTS);
    }
    this.increment(this.byAddress, address, now);
    this.increment(this.byName, name, now);
  }

  /** The guess begun with {@link beginGuess} was the right password: it does not count. */
  guessWasRight(name: string, address: string, now = Date.now()): void {
    if (!this.config.RATE_LIMITS) return;
    for (const [counters, key] of [[this.byAddress, address], [this.byName, name]] as const) {
      const window = this.current(counters, key, now);
      if (window && window.count > 0) window.count -= 1;
    }
  }

  /** The guess begun with {@link beginGuess} was wrong: it stays counted, and is logged. */
  guessWasWrong(name: string, address: string, now = Date.now()): void {
    if (!this.config.RATE_LIMITS) return;
    this.note(name, address, 'wrong', now);
  }

  /** Logs the summaries of the windows that ended by `now` and forgets expired counters. */
  tick(now = Date.now()): void {
    for (const [name, seen] of this.activity) {
      if (seen.start + AUTH_FAILURE_WINDOW_MS > now) continue;
      this.activity.delete(name);
      const more = Math.max(0, seen.wrong - 1);
      if (more === 0 && seen.refused === 0) continue;
      const named = [...seen.addresses].slice(0, ADDRESSES_LOGGED).join(', ');
      const addresses = seen.addresses.size > ADDRESSES_LOGGED ? `${named} and ${seen.addresses.size - ADDRESSES_LOGGED} other address(es)` : named;
      this.logger.warn(
        `Server name ${JSON.stringify(name)}: ${more} more wrong password(s) and ${seen.refused} guess(es) refused by the limit ` +
          `in the minute after the first, from ${addresses}`,
      );
    }
    for (const counters of [this.byAddress, this.byName]) {
      for (const [key, window] of counters) if (window.start + AUTH_FAILURE_WINDOW_MS <= now) counters.delete(key);
    }
  }

  private current(counters: Map<string, Window>, key: string, now: number): Window | undefined {
    const window = counters.get(key);
    return window && window.start + AUTH_FAILURE_WINDOW_MS > now ? window : undefined;
  }

  private increment(counters: Map<string, Window>, key: string, now: number): void {
    const window = this.current(counters, key, now);
    if (window) window.count += 1;
    else counters.set(key, { start: now, count: 1 });
  }

  private note(name: string, address: string, what: 'wrong' | 'refused', now: number): void {
    let seen = this.activity.get(name);
    if (!seen || seen.start + AUTH_FAILURE_WINDOW_MS <= now) {
      if (seen) this.tick(now);
      seen = { start: now, wrong: 0, refused: 0, addresses: new Set() };
      this.activity.set(name, seen);
    }
    if (seen.addresses.size < ADDRESSES_KEPT) seen.addresses.add(address);
    seen[what] += 1;
    if (what === 'wrong' && seen.wrong === 1) {
      this.logger.warn(`Wrong password for server name ${JSON.stringify(name)} from ${address} (more in the next minute are summed up in one line)`);
    }
  }
}
