import { LuaScript, RedisConnection, redisKey } from '../../common/redis/redis-connection';
import { Account } from '../domain/account';
import { User } from '../domain/user';
import { UserRepository } from './user.repository';

/** Adds tokens to one of the two tallies and reads the other, in one atomic step. */
const ADD_TOKENS = new LuaScript(
  'kcUserAddTokens',
  2,
  `local added = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
return {added, redis.call('HGET', KEYS[2], ARGV[1])}`,
);

/** Registers an account unless its username or key hash is taken: 1 when registered, 0 otherwise. */
const REGISTER_ACCOUNT = new LuaScript(
  'kcUserRegisterAccount',
  2,
  `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1`,
);

type Tally = 'usage' | 'contributions';

/** The two hashes of the users' tallies, username → tokens (the generation store's submit script credits them too). */
export const USER_TALLY_KEYS: Readonly<Record<Tally, string>> = { usage: redisKey('users', 'usage'), contributions: redisKey('users', 'contributions') };

/**
 * Users in Redis: two hashes, `{kc}:users:usage` and `{kc}:users:contributions`, username → tokens.
 * Each credit is one HINCRBY (in a script that also reads the other tally), so concurrent credits from
 * any number of instances add up exactly. A user exists once either hash has a field for them.
 * Accounts: `{kc}:accounts:by-name` (username → the account as JSON, with the key's hash, never the key)
 * and `{kc}:accounts:by-key` (key hash → the same JSON), both written by one script.
 */
export class RedisUserRepository extends UserRepository {
  private readonly keys: Record<Tally, string>;
  private readonly accountKeys: { byName: string; byKey: string };

  constructor(private readonly redis: RedisConnection) {
    super();
    this.keys = USER_TALLY_KEYS;
    this.accountKeys = { byName: redis.key('accounts', 'by-name'), byKey: redis.key('accounts', 'by-key') };
  }

  async registerAccount(account: Account): Promise<boolean> {
    const record = JSON.stringify({ username: account.username, apiKeyHash: account.apiKeyHash, registeredAt: account.registeredAt });
    const registered = (await this.redis.runScript(REGISTER_ACCOUNT, [this.accountKeys.byName, this.accountKeys.byKey], [account.username, account.apiKeyHash, record])) as number;
    return registered === 1;
  }

  async findAccountByApiKeyHash(apiKeyHash: string): Promise<Account | undefined> {
    const [record] = (await this.redis.transaction((multi) => multi.hget(this.accountKeys.byKey, apiKeyHash))) as [string | null];
    return record === null ? undefined : (JSON.parse(record) as Account);
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
