import { LuaScript, RedisConnection } from '../../common/redis/redis-connection';
import { RegistrationBudgetStore } from './registration-budget.store';

const HOUR_MS = 3_600_000;

/**
 * The token bucket of RegistrationBudget, in one atomic step. KEYS: the address's bucket (a hash: tokens,
 * at). ARGV: now (ms), perHour. Answers 0 when a registration was spent, else the ms to wait. The key
 * expires when the bucket would be full again, so nothing has to prune it.
 */
const SPEND = new LuaScript(
  'kcRegistrationSpend',
  1,
  `local now, perHour = tonumber(ARGV[1]), tonumber(ARGV[2])
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = perHour
if stored[1] then tokens = math.min(perHour, tonumber(stored[1]) + (now - tonumber(stored[2])) * perHour / ${HOUR_MS}) end
if tokens < 1 then return math.ceil((1 - tokens) * ${HOUR_MS} / perHour) end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((perHour - tokens) * ${HOUR_MS} / perHour)))
return 0`,
);

/**
 * The registration budget shared by every instance on one Redis: `{kc}:registrations:<address>`, a hash
 * per address that registered a name within the hour, expiring when its budget is full again. Times are
 * the instance's clock, as for the rate limits (clocks in step, NTP).
 */
export class RedisRegistrationBudgetStore extends RegistrationBudgetStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly perHour: number,
  ) {
    super();
  }

  async trySpend(address: string, now: number): Promise<number> {
    if (this.perHour === 0) return 0;
    return Number(await this.redis.runScript(SPEND, [this.redis.key('registrations', address)], [now, this.perHour]));
  }

  prune(): Promise<void> {
    return Promise.resolve();
  }
}
