import { HttpException, HttpStatus, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { AuthFailureCounters, AuthFailureLimits } from './auth-failure-counters';

/** Wrong passwords are counted per minute (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE, ..._PER_NAME_PER_MINUTE). */
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** How often the counters are pruned and the summaries of finished windows logged. */
const TICK_MS = 5_000;
/** Addresses named in a summary line, and remembered per name (beyond that, not told apart). */
const ADDRESSES_LOGGED = 20;
const ADDRESSES_KEPT = 1000;

/** What one server name saw in its current window, for its log lines. */
interface NameActivity {
  start: number;
  wrong: number;
  refused: number;
  addresses: Set<string>;
}

function retryInSeconds(retryInMs: number): number {
  return Math.max(1, Math.ceil(retryInMs / 1000));
}

/**
 * Wrong server passwords (pop, submit), in a budget of their own: per client address
 * (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE) and per server name from any address
 * (RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE). Over either, a guess gets 429 before any password is
 * hashed. Only guesses count: a bridge whose password has already been verified is never checked here
 * (see ServersService), so an attacker flooding a name with wrong passwords spends neither that bridge's
 * pop budget nor its logins. RATE_LIMITS=off switches it off with the other limits.
 *
 * The counters are an AuthFailureCounters store: in this process, or in Redis (REDIS_URL), where every
 * instance counts against the same budgets. The log lines below are each instance's own.
 *
 * Logged without flooding the log: the first wrong password for a name in a minute is logged at once
 * (name and address, never the password), the rest of that minute in one summary line when it ends
 * (or at shutdown), with the count of wrong and refused guesses and the addresses they came from.
 */
@Injectable()
export class AuthFailureLimiter implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(AuthFailureLimiter.name);
  private readonly limits: AuthFailureLimits;
  private readonly activity = new Map<string, NameActivity>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly counters: AuthFailureCounters,
  ) {
    this.limits = {
      windowMs: AUTH_FAILURE_WINDOW_MS,
      perAddress: config.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE,
      perName: config.RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE,
    };
  }

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
  async beginGuess(name: string, address: string, now = Date.now()): Promise<void> {
    if (!this.config.RATE_LIMITS) return;
    const full = await this.counters.begin(name, address, this.limits, now);
    if (full === undefined) return;
    const message =
      full.by === 'address'
        ? `Too many wrong passwords from your address (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: ${this.config.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE} a minute); ` +
          `try again in ${retryInSeconds(full.retryInMs)} s`
        : `Too many wrong passwords for server name ${JSON.stringify(name)} (RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE: ` +
          `${this.config.RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE} a minute); try again in ${retryInSeconds(full.retryInMs)} s`;
    this.note(name, address, 'refused', now);
    throw new HttpException(message, HttpStatus.TOO_MANY_REQUESTS);
  }

  /** The guess begun with {@link beginGuess} was the right password: it does not count. */
  async guessWasRight(name: string, address: string, now = Date.now()): Promise<void> {
    if (!this.config.RATE_LIMITS) return;
    await this.counters.giveBack(name, address, this.limits, now);
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
    this.counters.prune(now, AUTH_FAILURE_WINDOW_MS);
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
