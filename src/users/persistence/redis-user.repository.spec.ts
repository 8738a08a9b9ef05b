import { RedisConnection } from '../../common/redis/redis-connection';
import { useTestRedis } from '../../../test/support/redis-server';
import { RedisUserRepository } from './redis-user.repository';

const redis = useTestRedis();

describe('RedisUserRepository', () => {
  let connection: RedisConnection;
  beforeEach(async () => {
    connection = await redis.flush();
  });

  it('keeps the tallies in two hashes under the {kc} hash tag', async () => {
    const users = new RedisUserRepository(connection);
    await users.addUsage('alice', 4);
    await users.addContribution('alice', 9);
    expect(redis.server.cli('HGET', '{kc}:users:usage', 'alice')).toBe('4');
    expect(redis.server.cli('HGET', '{kc}:users:contributions', 'alice')).toBe('9');
  });

  it('sums credits sent through several connections (several instances) exactly', async () => {
    const others = await Promise.all([redis.connect(), redis.connect()]);
    const repositories = [connection, ...others].map((c) => new RedisUserRepository(c));
    await Promise.all(Array.from({ length: 600 }, (_, i) => repositories[i % 3].addUsage('shared', 1 + (i % 5))));
    const expected = Array.from({ length: 600 }, (_, i) => 1 + (i % 5)).reduce((a, b) => a + b, 0);
    await expect(repositories[1].findByUsername('shared')).resolves.toEqual({ username: 'shared', usage: expected, contributions: 0 });
  });

  it('refuses fractional tokens (a bug: tokens are counted whole)', async () => {
    await expect(new RedisUserRepository(connection).addUsage('alice', 1.5)).rejects.toThrow(RangeError);
  });
});
