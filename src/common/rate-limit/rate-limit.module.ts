import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerModule, ThrottlerModuleOptions } from '@nestjs/throttler';
import { hash, randomBytes } from 'node:crypto';
import { AppConfig } from '../../config/app-config';
import { RedisConnection } from '../redis/redis-connection';
import { bucketOf } from './rate-limit-bucket.decorator';
import { RedisThrottlerStorage } from './redis-throttler.storage';

const MINUTE = 60_000;
/** Salts the password digests in the pop counters' keys, which live in memory only, for the life of the process. */
const KEY_SALT = randomBytes(16).toString('base64');

/**
 * The pop counter of a body: its server name and a digest of its password. Keyed by name, so several
 * bridges behind one address are not throttled together; and by password, so that pops with a wrong
 * one (someone guessing) never spend the real server's budget. Guesses have their own limit
 * (AuthFailureLimiter), per address and per name.
 */
export function popTracker(body: unknown, ip: string, apiKey?: unknown): string {
  const { name, password } = (body ?? {}) as { name?: unknown; password?: unknown };
  if (typeof name !== 'string') return `ip:${ip}`;
  // A v2 worker (AI Horde API) has no password in its body: its API key header is its credential.
  const secret = typeof password === 'string' ? password : typeof apiKey === 'string' ? `apikey:${apiKey}` : '';
  return `server:${name}:${hash('sha256', KEY_SALT + secret, 'base64url')}`;
}

function rateLimitOptions(config: AppConfig, redis?: RedisConnection): ThrottlerModuleOptions {
  return {
    // With REDIS_URL, every instance counts against the same limits; otherwise @nestjs/throttler's memory.
    ...(redis ? { storage: new RedisThrottlerStorage(redis) } : {}),
    errorMessage: 'Too many requests: slow down (see the rate limits in the README)',
    // One counter per limit and client, shared by every route the limit covers (not one per route).
    generateKey: (_context, tracker, throttlerName) => `${throttlerName}:${tracker}`,
    throttlers: [
      {
        name: 'overall',
        ttl: MINUTE,
        limit: config.RATE_LIMIT_PER_MINUTE,
        skipIf: (context) => ['pop', 'worker', 'poll', 'unlimited'].includes(bucketOf(context) ?? ''),
      },
      { name: 'create', ttl: MINUTE, limit: config.RATE_LIMIT_CREATE_PER_MINUTE, skipIf: (context) => bucketOf(context) !== 'create' },
      { name: 'status', ttl: MINUTE, limit: config.RATE_LIMIT_STATUS_PER_MINUTE, skipIf: (context) => bucketOf(context) !== 'status' },
      {
        name: 'pop',
        ttl: 1000,
        limit: config.RATE_LIMIT_POP_PER_SECOND,
        skipIf: (context) => bucketOf(context) !== 'pop',
        getTracker: (req: Record<string, unknown>) => popTracker(req.body, String(req.ip), (req.headers as Record<string, unknown> | undefined)?.apikey),
      },
      // The AI Horde clients poll a request's status every 0.5 s (KoboldAI Lite) or 1 s (KoboldAI United).
      { name: 'poll', ttl: 1000, limit: config.RATE_LIMIT_POLL_PER_SECOND, skipIf: (context) => bucketOf(context) !== 'poll' },
    ],
  };
}

/**
 * @nestjs/throttler with the original KoboldAI-cluster's limits as a global guard, or nothing at all when RATE_LIMITS=off:
 * decided when the module is built, so with limits off no guard runs on any request (not even one
 * that lets everything through: that cost about 1 µs per pop).
 */
@Module({})
export class RateLimitModule {
  static forRoot(enabled: boolean): DynamicModule {
    if (!enabled) return { module: RateLimitModule };
    return {
      module: RateLimitModule,
      imports: [ThrottlerModule.forRootAsync({ inject: [AppConfig, { token: RedisConnection, optional: true }], useFactory: rateLimitOptions })],
      providers: [{ provide: APP_GUARD, useClass: ThrottlerGuard }],
    };
  }
}
