import { DynamicModule, Global, Logger, Module } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { RedisConnection } from './redis-connection';
import { RedisReadinessCheck } from './redis-readiness.check';

/**
 * The connection to the shared store when REDIS_URL is set (stores then inject RedisConnection, see
 * each feature's `persistence/*.provider.ts`); with REDIS_URL unset this module provides nothing and
 * every store stays in memory.
 */
@Global()
@Module({})
export class RedisModule {
  static forRoot(config: AppConfig): DynamicModule {
    if (!config.REDIS_URL) return { module: RedisModule };
    const url = config.REDIS_URL;
    return {
      module: RedisModule,
      providers: [
        {
          provide: RedisConnection,
          useFactory: () => {
            const connection = new RedisConnection(url);
            new Logger(RedisModule.name).log(
              `REDIS_URL is set: the requests in flight, users, servers, rate limits and budgets are kept in Redis (${connection.target}); ` +
                'every instance on it serves the same cluster',
            );
            return connection;
          },
        },
        { provide: RedisReadinessCheck, inject: [RedisConnection], useFactory: (redis: RedisConnection) => new RedisReadinessCheck(redis) },
      ],
      exports: [RedisConnection, RedisReadinessCheck],
    };
  }
}
