import { HttpException, Logger } from '@nestjs/common';
import { AppConfig, loadAppConfig } from '../../config/app-config';
import { useTestRedis } from '../../../test/support/redis-server';
import { AuthFailureCounters, InMemoryAuthFailureCounters } from './auth-failure-counters';
import { AUTH_FAILURE_WINDOW_MS, AuthFailureLimiter } from './auth-failure-limiter';
import { RedisAuthFailureCounters } from './redis-auth-failure-counters';
import { popTracker } from './rate-limit.module';

const T0 = 1_000_000;

function limiter(overrides: Record<string, string> = {}, counters: AuthFailureCounters = new InMemoryAuthFailureCounters()): { limiter: AuthFailureLimiter; warnings: string[] } {
  const config: AppConfig = loadAppConfig({ RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '3', RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE: '5', ...overrides });
  const warnings: string[] = [];
  jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
  return { limiter: new AuthFailureLimiter(config, counters), warnings };
}

/** A wrong guess; the 429's message if it was refused. */
async function guessWrong(l: AuthFailureLimiter, name: string, address: string, now: number): Promise<string | undefined> {
  try {
    await l.beginGuess(name, address, now);
  } catch (error) {
    expect(error).toBeInstanceOf(HttpException);
    expect((error as HttpException).getStatus()).toBe(429);
    return (error as HttpException).message;
  }
  l.guessWasWrong(name, address, now);
  return undefined;
}

afterEach(() => jest.restoreAllMocks());

const redis = useTestRedis();

// The counting is the AuthFailureCounters port's: the same behaviour in memory and in Redis (shared by instances).
describe.each([
  ['in memory', () => Promise.resolve<AuthFailureCounters>(new InMemoryAuthFailureCounters())],
  ['in Redis', async (): Promise<AuthFailureCounters> => new RedisAuthFailureCounters(await redis.flush())],
])('AuthFailureLimiter with its counters %s', (_adapter, counters) => {
  it('refuses an address after RATE_LIMIT_AUTH_FAILURES_PER_MINUTE wrong passwords, for the rest of the minute', async () => {
    const { limiter: l } = limiter({}, await counters());
    for (let i = 0; i < 3; i++) expect(await guessWrong(l, 'a', '10.0.0.1', T0 + i)).toBeUndefined();
    expect(await guessWrong(l, 'b', '10.0.0.1', T0 + 1000)).toBe('Too many wrong passwords from your address (RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: 3 a minute); try again in 59 s');
    // Another address may still try the same name.
    expect(await guessWrong(l, 'a', '10.0.0.2', T0 + 1000)).toBeUndefined();
    expect(await guessWrong(l, 'a', '10.0.0.1', T0 + AUTH_FAILURE_WINDOW_MS)).toBeUndefined();
  });

  it('refuses everyone guessing a name after RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE wrong passwords', async () => {
    const { limiter: l } = limiter({}, await counters());
    for (let i = 0; i < 5; i++) expect(await guessWrong(l, 'target', `10.0.0.${i}`, T0)).toBeUndefined();
    expect(await guessWrong(l, 'target', '10.0.1.1', T0 + 30_000)).toBe(
      'Too many wrong passwords for server name "target" (RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE: 5 a minute); try again in 30 s',
    );
    expect(await guessWrong(l, 'other', '10.0.1.1', T0 + 30_000)).toBeUndefined();
  });

  it('counts guesses as they begin, so that guesses sent together cannot all pass, and gives right ones back', async () => {
    const { limiter: l } = limiter({}, await counters());
    const begun = await Promise.allSettled(Array.from({ length: 8 }, () => l.beginGuess('a', '10.0.0.1', T0)));
    expect(begun.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    await l.guessWasRight('a', '10.0.0.1', T0);
    await expect(l.beginGuess('a', '10.0.0.1', T0)).resolves.toBeUndefined();
    await expect(l.beginGuess('a', '10.0.0.1', T0)).rejects.toThrow(HttpException);
  });

  it('is one budget for every limiter on the same counters (instances on one Redis)', async () => {
    const shared = await counters();
    const [one, two] = [limiter({}, shared).limiter, limiter({}, shared).limiter];
    expect(await guessWrong(one, 'a', '10.0.0.1', T0)).toBeUndefined();
    expect(await guessWrong(two, 'a', '10.0.0.1', T0)).toBeUndefined();
    expect(await guessWrong(one, 'a', '10.0.0.1', T0)).toBeUndefined();
    expect(await guessWrong(two, 'a', '10.0.0.1', T0)).toMatch(/^Too many wrong passwords from your address/);
  });
});

describe('AuthFailureLimiter', () => {
  it('logs the first wrong password of a name at once and the rest of the minute in one line', async () => {
    const { limiter: l, warnings } = limiter({ RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: '1000', RATE_LIMIT_AUTH_FAILURES_PER_NAME_PER_MINUTE: '50' });
    for (let i = 0; i < 80; i++) await guessWrong(l, 'target', `10.0.0.${i % 4}`, T0 + i * 100);
    expect(warnings).toEqual(['Wrong password for server name "target" from 10.0.0.0 (more in the next minute are summed up in one line)']);
    l.tick(T0 + AUTH_FAILURE_WINDOW_MS - 1);
    expect(warnings).toHaveLength(1);
    l.tick(T0 + AUTH_FAILURE_WINDOW_MS);
    expect(warnings[1]).toBe(
      'Server name "target": 49 more wrong password(s) and 30 guess(es) refused by the limit in the minute after the first, from 10.0.0.0, 10.0.0.1, 10.0.0.2, 10.0.0.3',
    );
    l.tick(T0 + 10 * AUTH_FAILURE_WINDOW_MS);
    expect(warnings).toHaveLength(2);
  });

  it('logs what is pending at shutdown, and nothing when a name had a single wrong password', async () => {
    const { limiter: l, warnings } = limiter();
    await guessWrong(l, 'once', '10.0.0.1', T0);
    await guessWrong(l, 'twice', '10.0.0.2', T0);
    await guessWrong(l, 'twice', '10.0.0.3', T0);
    l.onModuleDestroy();
    expect(warnings.slice(2)).toEqual(['Server name "twice": 1 more wrong password(s) and 0 guess(es) refused by the limit in the minute after the first, from 10.0.0.2, 10.0.0.3']);
  });

  it('does nothing with RATE_LIMITS=off', async () => {
    const { limiter: l, warnings } = limiter({ RATE_LIMITS: 'off' });
    for (let i = 0; i < 100; i++) expect(await guessWrong(l, 'a', '10.0.0.1', T0)).toBeUndefined();
    expect(warnings).toEqual([]);
  });
});

describe('popTracker', () => {
  it('keys pops by server name and password, never by the password itself', () => {
    const right = popTracker({ name: 'Db0', password: 'correct horse' }, '10.0.0.1');
    expect(popTracker({ name: 'Db0', password: 'correct horse' }, '10.0.0.2')).toBe(right);
    expect(popTracker({ name: 'Db0', password: 'guess' }, '10.0.0.1')).not.toBe(right);
    expect(right).not.toContain('correct horse');
    expect(popTracker({ password: 'x' }, '10.0.0.1')).toBe('ip:10.0.0.1');
  });

  it('keys a v2 worker\'s pops by name and API key header, so a wrong key spends none of the real worker\'s budget', () => {
    const right = popTracker({ name: 'Db0' }, '10.0.0.1', 'the-api-key');
    expect(popTracker({ name: 'Db0' }, '10.0.0.2', 'the-api-key')).toBe(right);
    expect(popTracker({ name: 'Db0' }, '10.0.0.1', 'a-guess')).not.toBe(right);
    expect(popTracker({ name: 'Db0' }, '10.0.0.1')).not.toBe(right);
    expect(right).not.toContain('the-api-key');
  });
});
