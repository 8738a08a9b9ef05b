import { CanActivate, Module } from '@nestjs/common';
import { APP_GUARD, Reflector } from '@nestjs/core';
import { getOptionsToken, ThrottlerGuard, ThrottlerModule, ThrottlerModuleOptions, ThrottlerStorage } from '@nestjs/throttler';
import { AppConfig } from '../../config/app-config';
import { bucketOf } from './rate-limit-bucket.decorator';

const MINUTE = 60_000;

function rateLimitOptions(config: AppConfig): ThrottlerModuleOptions {
  return {
    errorMessage: 'Too many requests: slow down (see the rate limits in the README)',
    // One counter per limit and client, shared by every route the limit covers (not one per route).
    generateKey: (_context, tracker, throttlerName) => `${throttlerName}:${tracker}`,
    throttlers: [
      {
        name: 'overall',
        ttl: MINUTE,
        limit: config.RATE_LIMIT_PER_MINUTE,
        skipIf: (context) => ['pop', 'worker'].includes(bucketOf(context) ?? ''),
      },
      { name: 'create', ttl: MINUTE, limit: config.RATE_LIMIT_CREATE_PER_MINUTE, skipIf: (context) => bucketOf(context) !== 'create' },
      { name: 'status', ttl: MINUTE, limit: config.RATE_LIMIT_STATUS_PER_MINUTE, skipIf: (context) => bucketOf(context) !== 'status' },
      {
        // Keyed by server name, so several bridges behind one address are not throttled together.
        name: 'pop',
        ttl: 1000,
        limit: config.RATE_LIMIT_POP_PER_SECOND,
        skipIf: (context) => bucketOf(context) !== 'pop',
        getTracker: (req: Record<string, unknown>) => {
          const name = (req.body as { name?: unknown } | undefined)?.name;
          return typeof name === 'string' ? `server:${name}` : `ip:${String(req.ip)}`;
        },
      },
    ],
  };
}

const allowAll: CanActivate = { canActivate: () => true };

/** @nestjs/throttler with the seed's limits, or nothing at all when RATE_LIMITS=off. */
@Module({
  imports: [ThrottlerModule.forRootAsync({ inject: [AppConfig], useFactory: rateLimitOptions })],
  providers: [
    {
      provide: APP_GUARD,
      inject: [AppConfig, getOptionsToken(), ThrottlerStorage, Reflector],
      useFactory: (config: AppConfig, options: ThrottlerModuleOptions, storage: ThrottlerStorage, reflector: Reflector) =>
        config.RATE_LIMITS ? new ThrottlerGuard(options, storage, reflector) : allowAll,
    },
  ],
})
export class RateLimitModule {}
