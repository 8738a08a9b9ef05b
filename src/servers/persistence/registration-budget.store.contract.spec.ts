import { useTestRedis } from '../../../test/support/redis-server';
import { InMemoryRegistrationBudgetStore } from './in-memory-registration-budget.store';
import { RedisRegistrationBudgetStore } from './redis-registration-budget.store';
import { describeRegistrationBudgetStoreContract } from './registration-budget.store.contract';

// One contract, every adapter of the RegistrationBudgetStore port.

describeRegistrationBudgetStoreContract('in memory', (perHour) => Promise.resolve(new InMemoryRegistrationBudgetStore(perHour)));

const redis = useTestRedis();
describeRegistrationBudgetStoreContract('Redis', async (perHour) => new RedisRegistrationBudgetStore(await redis.flush(), perHour));

describe('RedisRegistrationBudgetStore', () => {
  it('is one budget for every instance on the Redis, and its key expires once the budget is full again', async () => {
    await redis.flush();
    const [a, b] = [new RedisRegistrationBudgetStore(redis.connection, 2), new RedisRegistrationBudgetStore(await redis.connect(), 2)];
    const now = Date.now();
    expect(await a.trySpend('203.0.113.7', now)).toBe(0);
    expect(await b.trySpend('203.0.113.7', now)).toBe(0);
    expect(await a.trySpend('203.0.113.7', now)).toBeGreaterThan(0);
    expect(await b.trySpend('203.0.113.7', now)).toBeGreaterThan(0);
    const ttl = Number(redis.server.cli('PTTL', '{kc}:registrations:203.0.113.7'));
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });
});
