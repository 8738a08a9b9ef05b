import { LuaScript, RedisConnection } from '../../common/redis/redis-connection';
import { StaleClaim, StaleServersCursor } from './stale-servers-cursor';

/** KEYS: the cursor. ARGV: to. Answers {1, previous position or ''} when it moved the cursor, {0} when it is at or beyond `to`. */
const ADVANCE = new LuaScript(
  'kcStaleCursorAdvance',
  1,
  `local position = redis.call('GET', KEYS[1])
if position and tonumber(position) >= tonumber(ARGV[1]) then return {0} end
redis.call('SET', KEYS[1], ARGV[1])
return {1, position or ''}`,
);

/** The cursor shared by every instance on one Redis: `{kc}:servers:stale-cursor`. */
export class RedisStaleServersCursor extends StaleServersCursor {
  constructor(private readonly redis: RedisConnection) {
    super();
  }

  async advance(to: number): Promise<StaleClaim> {
    const [moved, from] = (await this.redis.runScript(ADVANCE, [this.redis.key('servers', 'stale-cursor')], [to])) as [number, string?];
    if (moved !== 1) return { claimed: false };
    return { claimed: true, from: from ? Number(from) : undefined };
  }
}
