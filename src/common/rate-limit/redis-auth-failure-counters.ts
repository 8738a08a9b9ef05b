import { LuaScript, RedisConnection } from '../redis/redis-connection';
import { AuthFailureCounters, AuthFailureLimits, FullBudget } from './auth-failure-counters';

/** A window of KEYS[i] (a hash: start, count) is current while start + window > now. */
const CURRENT = `local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local function current(key)
  local stored = redis.call('HMGET', key, 'start', 'count')
  if stored[1] and tonumber(stored[1]) + window > now then return tonumber(stored[1]), tonumber(stored[2]) end
  return nil, 0
end
`;

/** KEYS: the address's window, the name's. ARGV: now, window, perAddress, perName. Answers {0} (counted), or {1|2, ms to wait}. */
const BEGIN = new LuaScript(
  'kcAuthFailureBegin',
  2,
  `${CURRENT}
local addressStart, addressCount = current(KEYS[1])
local nameStart, nameCount = current(KEYS[2])
if addressStart and addressCount >= tonumber(ARGV[3]) then return {1, addressStart + window - now} end
if nameStart and nameCount >= tonumber(ARGV[4]) then return {2, nameStart + window - now} end
for i, start in ipairs({addressStart or false, nameStart or false}) do
  if start then redis.call('HINCRBY', KEYS[i], 'count', 1)
  else
    redis.call('HSET', KEYS[i], 'start', now, 'count', 1)
    redis.call('PEXPIRE', KEYS[i], window)
  end
end
return {0}`,
);

/** KEYS: the address's window, the name's. ARGV: now, window. */
const GIVE_BACK = new LuaScript(
  'kcAuthFailureGiveBack',
  2,
  `${CURRENT}
for _, key in ipairs(KEYS) do
  local start, count = current(key)
  if start and count > 0 then redis.call('HINCRBY', key, 'count', -1) end
end
return 0`,
);

/**
 * The wrong-password counters shared by every instance on one Redis: `{kc}:auth-failures:address:<address>`
 * and `{kc}:auth-failures:name:<name>`, a hash (start, count) each, expiring with their window.
 */
export class RedisAuthFailureCounters extends AuthFailureCounters {
  constructor(private readonly redis: RedisConnection) {
    super();
  }

  async begin(name: string, address: string, limits: AuthFailureLimits, now: number): Promise<FullBudget | undefined> {
    const [full, retryInMs] = (await this.redis.runScript(BEGIN, this.keys(name, address), [now, limits.windowMs, limits.perAddress, limits.perName])) as number[];
    if (full === 0) return undefined;
    return { by: full === 1 ? 'address' : 'name', retryInMs };
  }

  async giveBack(name: string, address: string, limits: AuthFailureLimits, now: number): Promise<void> {
    await this.redis.runScript(GIVE_BACK, this.keys(name, address), [now, limits.windowMs]);
  }

  prune(): void {
    // Each window expires in Redis by itself.
  }

  private keys(name: string, address: string): string[] {
    return [this.redis.key('auth-failures', 'address', address), this.redis.key('auth-failures', 'name', name)];
  }
}
