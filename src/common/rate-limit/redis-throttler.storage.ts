import { ThrottlerStorage } from '@nestjs/throttler';
import { LuaScript, RedisConnection } from '../redis/redis-connection';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * One hit, as @nestjs/throttler 6.7's in-memory ThrottlerStorageService counts it, in one atomic step:
 * a sliding log of hits (each expires `ttl` after it was made: a sorted set scored by expiry time), a
 * window end for the reset header, and a block of `blockDuration` once the hits exceed the limit
 * (blocked hits are not counted; the first hit after the block starts afresh). With blockDuration 0,
 * a hit over the limit is refused without blocking.
 * KEYS: the hits (sorted set), the state (hash: window end, block end, member sequence).
 * ARGV: now (ms), ttl (ms), limit, blockDuration (ms). Answers {totalHits, timeToExpire, isBlocked, timeToBlockExpire}.
 */
const HIT = new LuaScript(
  'kcThrottlerHit',
  2,
  `local hits, state = KEYS[1], KEYS[2]
local now, ttl, limit, block = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function seconds(ms) return math.ceil(ms / 1000) end
local function hit()
  redis.call('ZADD', hits, now + ttl, redis.call('HINCRBY', state, 'seq', 1))
end
redis.call('ZREMRANGEBYSCORE', hits, '-inf', now)
local windowEnd = tonumber(redis.call('HGET', state, 'windowEnd') or 0)
if seconds(windowEnd - now) <= 0 then
  windowEnd = now + ttl
  redis.call('HSET', state, 'windowEnd', windowEnd)
end
local blockEnd = tonumber(redis.call('HGET', state, 'blockEnd') or 0)
local blocked = blockEnd > 0
local totalHits, timeToBlockExpire
if block <= 0 then
  blocked = redis.call('ZCARD', hits) >= limit
  if not blocked then hit() end
  totalHits = redis.call('ZCARD', hits) + (blocked and 1 or 0)
  timeToBlockExpire = 0
  if blocked then
    local first = redis.call('ZRANGE', hits, 0, 0, 'WITHSCORES')
    timeToBlockExpire = first[2] and seconds(tonumber(first[2]) - now) or seconds(windowEnd - now)
  end
else
  if not blocked then hit() end
  totalHits = redis.call('ZCARD', hits)
  if totalHits > limit and not blocked then
    blocked = true
    blockEnd = now + block
    redis.call('HSET', state, 'blockEnd', blockEnd)
  end
  timeToBlockExpire = blocked and seconds(blockEnd - now) or 0
  if blocked and timeToBlockExpire <= 0 then
    blocked = false
    redis.call('DEL', hits)
    redis.call('HSET', state, 'blockEnd', 0)
    hit()
    totalHits = 1
  end
end
local keep = math.max(ttl, windowEnd - now, blockEnd - now, 1)
redis.call('PEXPIRE', hits, keep)
redis.call('PEXPIRE', state, keep)
return {totalHits, seconds(windowEnd - now), blocked and 1 or 0, timeToBlockExpire}`,
);

/**
 * Rate limits shared by every instance on one Redis: @nestjs/throttler's storage, one script per hit.
 * Times are this instance's clock (Date.now()), as in memory; instances' clocks are assumed in step
 * (NTP) to well under the shortest limit window (1 s).
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly redis: RedisConnection) {}

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const base = this.redis.key('rate-limit', throttlerName, key);
    const reply = (await this.redis.runScript(HIT, [`${base}:hits`, `${base}:state`], [Date.now(), ttl, limit, blockDuration])) as number[];
    const [totalHits, timeToExpire, isBlocked, timeToBlockExpire] = reply;
    return { totalHits, timeToExpire, isBlocked: isBlocked === 1, timeToBlockExpire };
  }
}
