import { ThrottlerStorageService } from '@nestjs/throttler';
import { useTestRedis } from '../../../test/support/redis-server';
import { RedisConnection } from '../redis/redis-connection';
import { RedisThrottlerStorage } from './redis-throttler.storage';
import { describeThrottlerStorageContract } from './throttler-storage.contract';

const redis = useTestRedis();

// The reference: @nestjs/throttler's own in-memory storage, which the Redis one must count like.
describeThrottlerStorageContract('@nestjs/throttler in memory (reference)', () => {
  const storage = new ThrottlerStorageService();
  return Promise.resolve({ storage, dispose: () => Promise.resolve(storage.onApplicationShutdown()) });
});

describeThrottlerStorageContract('Redis', async () => ({ storage: new RedisThrottlerStorage(await redis.flush()) }));

describe('RedisThrottlerStorage', () => {
  let connection: RedisConnection;
  beforeEach(async () => {
    connection = await redis.flush();
  });

  it('shares one limit between instances (connections)', async () => {
    const others = await Promise.all([redis.connect(), redis.connect()]);
    const storages = [connection, ...others].map((c) => new RedisThrottlerStorage(c));
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => storages[i % 3].increment('ip:1.2.3.4', 60_000, 20, 60_000, 'overall')));
    expect(answers.filter((a) => !a.isBlocked)).toHaveLength(20);
  });

  it('keeps its keys under the {kc} hash tag and lets them expire', async () => {
    await new RedisThrottlerStorage(connection).increment('ip:1.2.3.4', 1_000, 2, 5_000, 'pop');
    const keys = redis.server.cli('--scan').split('\n').sort();
    expect(keys).toEqual(['{kc}:rate-limit:pop:ip:1.2.3.4:hits', '{kc}:rate-limit:pop:ip:1.2.3.4:state']);
    for (const key of keys) {
      const ttl = Number(redis.server.cli('PTTL', key));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(1_000);
    }
  });
});
