import { LuaScript, RedisConnection } from '../../common/redis/redis-connection';
import { User } from '../domain/user';
import { UserRepository } from './user.repository';

/** Adds tokens to one of the two tallies and reads the other, in one atomic step. */
const ADD_TOKENS = new LuaScript(
  'kcUserAddTokens',
  2,
  `local added = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
return {added, redis.call('HGET', KEYS[2], ARGV[1])}`,
);

type Tally = 'usage' | 'contributions';

/** The two hashes of the users' tallies, username → tokens (the generation store's submit script credits them too). */
export function userTallyKeys(redis: RedisConnection): Record<Tally, string> {
  return { usage: redis.key('users', 'usage'), contributions: redis.key('users', 'contributions') };
}

/**
 * Users in Redis: two hashes, `{kc}:users:usage` and `{kc}:users:contributions`, username → tokens.
 * Each credit is one HINCRBY (in a script that also reads the other tally), so concurrent credits from
 * any number of instances add up exactly. A user exists once either hash has a field for them.
 */
export class RedisUserRepository extends UserRepository {
  private readonly keys: Record<Tally, string>;

  constructor(private readonly redis: RedisConnection) {
    super();
    this.keys = userTallyKeys(redis);
  }

  async findByUsername(username: string): Promise<User | undefined> {
    const [usage, contributions] = (await this.redis.transaction((multi) =>
      multi.hget(this.keys.usage, username).hget(this.keys.contributions, username),
    )) as [string | null, string | null];
    if (usage === null && contributions === null) return undefined;
    return { username, usage: Number(usage ?? 0), contributions: Number(contributions ?? 0) };
  }

  addUsage(username: string, tokens: number): Promise<User> {
    return this.add('usage', username, tokens);
  }

  addContribution(username: string, tokens: number): Promise<User> {
    return this.add('contributions', username, tokens);
  }

  async findAll(): Promise<User[]> {
    const [usage, contributions] = (await this.redis.transaction((multi) => multi.hgetall(this.keys.usage).hgetall(this.keys.contributions))) as [
      Record<string, string>,
      Record<string, string>,
    ];
    const users = new Map<string, User>();
    const entry = (username: string): User => {
      let user = users.get(username);
      if (!user) users.set(username, (user = { username, usage: 0, contributions: 0 }));
      return user;
    };
    for (const [username, tokens] of Object.entries(usage)) entry(username).usage = Number(tokens);
    for (const [username, tokens] of Object.entries(contributions)) entry(username).contributions = Number(tokens);
    return [...users.values()];
  }

  private async add(tally: Tally, username: string, tokens: number): Promise<User> {
    if (!Number.isSafeInteger(tokens)) throw new RangeError(`Tokens must be a whole number, got ${tokens}`);
    const other: Tally = tally === 'usage' ? 'contributions' : 'usage';
    const [added, otherTokens] = (await this.redis.runScript(ADD_TOKENS, [this.keys[tally], this.keys[other]], [username, tokens])) as [number, string | null];
    const user: User = { username, usage: 0, contributions: 0 };
    user[tally] = added;
    user[other] = Number(otherTokens ?? 0);
    return user;
  }
}
