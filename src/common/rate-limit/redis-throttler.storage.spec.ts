import { ThrottlerStorageService } from '@nestjs/throttler';
import { connectToRedis, TestRedisServer } from '../../../test/support/redis-server';
import { RedisConnection } from '../redis/redis-connection';
import { RedisThrottlerStorage } from './redis-throttler.storage';
import { describeThrottlerStorageContract } from './throttler-storage.contract';

let redis: TestRedisServer;
let connection: RedisConnection;

beforeAll(async () => {
  redis = await TestRedisServer.start();
  connection = await connectToRedis(redis.socketUrl);
});
afterAll(async () => {
  await connection.onApplicationShutdown();
  await redis.stop();
});

// The reference: @nestjs/throttler's own in-memory storage, which the Redis one must count like.
describeThrottlerStorageContract('@nestjs/throttler in memory (reference)', () => {
  const storage = new ThrottlerStorageService();
  return Promise.resolve({ storage, dispose: () => Promise.resolve(storage.onApplicationShutdown()) });
});

describeThrottlerStorageContract('Redis', async () => {
  await connection.run((client) => client.flushdb());
  return { storage: new RedisThrottlerStorage(connection) };
});

describe('RedisThrottlerStorage', () => {
  beforeEach(() => connection.run((client) => client.flushdb()));

  it('shares one limit between instances (connections)', async () => {
    const others = await Promise.all([connectToRedis(redis.socketUrl), connectToRedis(redis.socketUrl)]);
    try {
      const storages = [connection, ...others].map((c) => new RedisThrottlerStorage(c));
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => storages[i % 3].increment('ip:1.2.3.4', 60_000, 20, 60_000, 'overall')));
      expect(answers.filter((a) => !a.isBlocked)).toHaveLength(20);
    } finally {
      await Promise.all(others.map((c) => c.onApplicationShutdown()));
    }
  });

  it('keeps its keys under the {kc} hash tag and lets them expire', async () => {
    await new RedisThrottlerStorage(connection).increment('ip:1.2.3.4', 1_000, 2, 5_000, 'pop');
    const keys = redis.cli('--scan').split('\n').sort();
    expect(keys).toEqual(['{kc}:rate-limit:pop:ip:1.2.3.4:hits', '{kc}:rate-limit:pop:ip:1.2.3.4:state']);
    for (const key of keys) {
      const ttl = Number(redis.cli('PTTL', key));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(1_000);
    }
  });
});
