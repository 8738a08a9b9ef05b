import { LuaScript, RedisConnection, redisKey } from '../../common/redis/redis-connection';
import { jobMilliseconds, KoboldServer, PERFORMANCE_WINDOW, ServerJob, ServerSettings } from '../domain/kobold-server';
import { CheckInOutcome, CheckInUpdate, ServerRepository } from './server.repository';

/** The server hash and its recent jobs, as one reply: `{HGETALL, LRANGE}`, or nil when there is no such server. */
const READ_SERVER = `{redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}`;

const FIND = new LuaScript(
  'kcServerFind',
  2,
  `if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return ${READ_SERVER}`,
);

/**
 * KEYS: id-by-name, server, jobs, seen, unused. ARGV: name, id, its score in the seen sets (seenScore),
 * requestsFulfilled, number of jobs, the jobs, then the server's field/value pairs (seenAt among them).
 * The first registration of a name wins: answers the holder's id instead.
 */
const CREATE = new LuaScript(
  'kcServerCreate',
  5,
  `local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return existing end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local jobs = tonumber(ARGV[5])
if jobs > 0 then redis.call('RPUSH', KEYS[3], unpack(ARGV, 6, 5 + jobs)) end
redis.call('HSET', KEYS[2], unpack(ARGV, 6 + jobs))
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
if tonumber(ARGV[4]) == 0 then redis.call('ZADD', KEYS[5], ARGV[3], ARGV[2]) end
return false`,
);

/**
 * KEYS: id-by-name, seen, unused. ARGV: name, the proven password hash ('' for none), the server key
 * prefix, the jobs suffix, the score in the seen sets (seenScore of lastSeenAt), then the updated
 * field/value pairs (lastSeenAt among them). Writes the score as seenAt too: this check-in always moves
 * the server in the seen sets, unlike the pop's (PROVEN_CHECK_IN_LUA). A pop's
 * check-in in one script: the server holding the name, as it was, and whether the update was applied
 * (only when the proven hash is its password hash), as `{hash fields, jobs, 1/0}`; false for no such
 * server. The hash is compared in Lua over the fields already read (cheaper than one more HGET).
 */
const CHECK_IN_BY_NAME = new LuaScript(
  'kcServerCheckInByName',
  3,
  `local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local server = ARGV[3] .. id
local fields = redis.call('HGETALL', server)
if #fields == 0 then return false end
local jobs = redis.call('LRANGE', server .. ARGV[4], 0, -1)
local proven = false
if ARGV[2] ~= '' then
  for i = 1, #fields, 2 do
    if fields[i] == 'passwordHash' then
      proven = fields[i + 1] == ARGV[2]
      break
    end
  end
end
if not proven then return {fields, jobs, 0} end
redis.call('HSET', server, 'seenAt', ARGV[5], unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], ARGV[5], id)
redis.call('ZADD', KEYS[3], 'XX', ARGV[5], id)
return {fields, jobs, 1}`,
);

/**
 * Lua: a pop's check-in of a server whose password hash the caller proved, for the generation store's pop
 * script (src/generation/persistence/redis), which checks the server in and takes its slot in one step.
 * `provenCheckIn(idByName, seen, unused, serverPrefix, name, idHint, provenHash, lastSeenAt, seenAt, owner,
 * model, maxLength, maxContentLength)` with the update's values as strings as stored (`seenAt`: seenScore
 * of lastSeenAt; `idHint`: the id the caller's earlier pop of the name answered, or ''): the server holding
 * the name is the hinted one if its hash has that name (a name is only ever the hash's of the server that
 * holds it; a server deleted and registered again has a new id), else the name's in `idByName` (one HGET
 * more). When `provenHash` is its password hash, writes the fields
 * that changed (always lastSeenAt) and, only when `seenAt` is not the hash's (its last-seen time entered a
 * new SEEN_GRANULARITY_MS, or a server stored by an older build, without the field), seenAt and its places
 * in the seen and unused sets (most pops: none of the three); answers its hash key, the server as it was
 * before, and the sums of its recent jobs' tokens and milliseconds (false, false for a server stored before the sums were kept: see
 * RECORD_JOB_LUA); otherwise changes nothing and answers nil. The server before is `{id, lastSeenAt,
 * maintenance}` when its owner, model and limits are the update's (the usual pop: the caller has those
 * values, and the name, which is the hash's own: a name points only to the server created with it), and
 * `{id, lastSeenAt, maintenance, owner, model, maxLength, maxContentLength}` when any differs. The outcome
 * of checkInByName, for the fields a pop needs, without reading or sending the whole server: the id is not
 * read from the hash, and an unchanged server builds no list of changes (each value read, passed or
 * answered costs Redis a conversion).
 */
export const PROVEN_CHECK_IN_LUA = `local CHECK_IN_FIELDS = { 'passwordHash', 'requestsFulfilled', 'jobTokens', 'jobMs', 'owner', 'model', 'maxLength', 'maxContentLength', 'lastSeenAt', 'maintenance', 'seenAt', 'name' }
local CHANGEABLE_FIELDS = { 'owner', 'model', 'maxLength', 'maxContentLength' }
local function provenCheckIn(idByName, seen, unused, serverPrefix, name, idHint, provenHash, lastSeenAt, seenAt, owner, model, maxLength, maxContentLength)
  local id, server, v = idHint, nil, nil
  if id ~= '' then
    server = serverPrefix .. id
    v = redis.call('HMGET', server, unpack(CHECK_IN_FIELDS))
  end
  -- No hint, or its hash is gone or another server's (false ~= name): the name's id.
  if not v or v[12] ~= name then
    id = redis.call('HGET', idByName, name)
    if not id then return nil end
    server = serverPrefix .. id
    v = redis.call('HMGET', server, unpack(CHECK_IN_FIELDS))
  end
  if v[1] ~= provenHash then return nil end
  -- The seen sets' score of this check-in is not the one written last (both strings: no number converted).
  local moved = v[11] ~= seenAt
  local before
  if v[5] == owner and v[6] == model and v[7] == maxLength and v[8] == maxContentLength then
    if moved then
      redis.call('HSET', server, 'lastSeenAt', lastSeenAt, 'seenAt', seenAt)
    else
      redis.call('HSET', server, 'lastSeenAt', lastSeenAt)
    end
    before = { id, v[9], v[10] }
  else
    local update, changes = { owner, model, maxLength, maxContentLength }, { 'lastSeenAt', lastSeenAt }
    if moved then changes[3], changes[4] = 'seenAt', seenAt end
    for i, field in ipairs(CHANGEABLE_FIELDS) do
      if update[i] ~= nil and update[i] ~= v[i + 4] then
        changes[#changes + 1] = field
        changes[#changes + 1] = update[i]
      end
    end
    redis.call('HSET', server, unpack(changes))
    before = { id, v[9], v[10], v[5], v[6], v[7], v[8] }
  end
  if moved then
    redis.call('ZADD', seen, seenAt, id)
    -- A server is in the unused set exactly while it has fulfilled no request.
    if v[2] == '0' then redis.call('ZADD', unused, 'XX', seenAt, id) end
  end
  return server, before, v[3], v[4]
end
`;

/**
 * Lua: records one job of a server in one step (its stats and performance window), false when the server
 * does not exist; `addJob` the same for a server known to exist. The one definition of it: ADD_JOB below
 * and the generation store's submit script (src/generation/persistence/redis) both embed it. It uses
 * `int(s)` (the number a decimal stands for) and `signedDec(n)` (a whole number as a decimal, or n itself
 * for redis.call to format), which the generation library defines with its tables of small whole numbers
 * (a tonumber, or a number that redis.call formats, costs Redis about 2,000 instructions) and
 * PLAIN_NUMBERS_LUA plainly for ADD_JOB.
 */
export const RECORD_JOB_LUA = `-- A job's time in whole milliseconds, at least 1 (jobMilliseconds; Math.round(x) is floor(x + 0.5) here).
local function jobMilliseconds(seconds)
  local ms = math.floor(seconds * 1000 + 0.5)
  if ms < 1 then return 1 end
  return ms
end
-- A list entry 'tokens seconds': its tokens and milliseconds (s + 0 converts once, tonumber twice).
local function jobOfEntry(entry)
  local t, s = string.match(entry, '^(%S+) (%S+)$')
  return int(t), jobMilliseconds(s + 0)
end
-- The sums of the recent jobs' tokens and milliseconds, worked out from the list and written to the
-- server's fields jobTokens and jobMs: for a server stored before the sums were kept.
local function recountJobs(server, jobs)
  local tokens, ms = 0, 0
  for _, entry in ipairs(redis.call('LRANGE', jobs, 0, -1)) do
    local t, m = jobOfEntry(entry)
    tokens, ms = tokens + t, ms + m
  end
  redis.call('HSET', server, 'jobTokens', tokens, 'jobMs', ms)
  return tokens, ms
end
-- sumsKept: the server has the fields jobTokens and jobMs (else they are worked out from the list).
local function addJob(server, jobs, unused, id, tokens, seconds, entry, window, sumsKept)
  redis.call('HINCRBY', server, 'tokensGenerated', tokens)
  -- A server is in the unused set exactly while it has fulfilled no request.
  if redis.call('HINCRBY', server, 'requestsFulfilled', '1') == 1 then redis.call('ZREM', unused, id) end
  local length, limit = redis.call('RPUSH', jobs, entry), tonumber(window)
  if not sumsKept then
    if length > limit then redis.call('LTRIM', jobs, -limit, -1) end
    recountJobs(server, jobs)
    return
  end
  -- The sums change by the new job less the jobs that leave the window, in whole numbers (exact).
  local addTokens, addMs = int(tokens), jobMilliseconds(tonumber(seconds))
  if length > limit then
    for _, old in ipairs(redis.call('LPOP', jobs, signedDec(length - limit))) do
      local t, m = jobOfEntry(old)
      addTokens, addMs = addTokens - t, addMs - m
    end
  end
  redis.call('HINCRBY', server, 'jobTokens', signedDec(addTokens))
  redis.call('HINCRBY', server, 'jobMs', signedDec(addMs))
end
local function recordJob(server, jobs, unused, id, tokens, seconds, entry, window)
  local v = redis.call('HMGET', server, 'id', 'jobMs')
  if not v[1] then return false end
  addJob(server, jobs, unused, id, tokens, seconds, entry, window, v[2] ~= false)
  return true
end
`;

/** RECORD_JOB_LUA's `int` and `signedDec`, plainly: for a script without the generation library's tables of numbers. */
const PLAIN_NUMBERS_LUA = `local function int(s) return tonumber(s) end
local function signedDec(n) return n end
`;

/** KEYS: server, jobs, unused. ARGV: id, tokens, seconds, the job as stored, the performance window. Stats and window in one step. */
const ADD_JOB = new LuaScript(
  'kcServerAddJob',
  3,
  `${PLAIN_NUMBERS_LUA}${RECORD_JOB_LUA}if not recordJob(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) then return false end
return ${READ_SERVER}`,
);

/**
 * KEYS: server, jobs, id-by-name, seen, unused. ARGV: id, seenBefore. Deletes the server if it still never
 * fulfilled a request and was last seen at or before seenBefore (a pop meanwhile keeps it); answers its name.
 */
const FORGET_UNUSED = new LuaScript(
  'kcServerForgetUnused',
  5,
  `local fields = redis.call('HMGET', KEYS[1], 'name', 'requestsFulfilled', 'lastSeenAt')
if not fields[1] then
  redis.call('ZREM', KEYS[5], ARGV[1])
  return false
end
if tonumber(fields[2]) ~= 0 or tonumber(fields[3]) > tonumber(ARGV[2]) then return false end
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('HGET', KEYS[3], fields[1]) == ARGV[1] then redis.call('HDEL', KEYS[3], fields[1]) end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return fields[1]`,
);

/** KEYS: server, jobs. ARGV: the changed field/value pairs. False when there is no such server. */
const UPDATE_SETTINGS = new LuaScript(
  'kcServerUpdateSettings',
  2,
  `if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], unpack(ARGV))
return ${READ_SERVER}`,
);

/**
 * KEYS: server, jobs, id-by-name, seen, unused. ARGV: id. Deletes the server and frees its name in one
 * step; answers it as it was, or false when there is no such server.
 */
const DELETE = new LuaScript(
  'kcServerDelete',
  5,
  `if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local server = ${READ_SERVER}
local name = redis.call('HGET', KEYS[1], 'name')
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('HGET', KEYS[3], name) == ARGV[1] then redis.call('HDEL', KEYS[3], name) end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return server`,
);

/** Servers forgotten per call of deleteUnusedSeenBefore at most (each is one script). */
const FORGET_BATCH = 1_000;

/** A server's hash is this prefix + its id (`{kc}:server:<id>`); its recent jobs, that key + SERVER_JOBS_SUFFIX. */
export const SERVER_KEY_PREFIX = redisKey('server', '');

export const SERVER_JOBS_SUFFIX = ':jobs';

/** The keys of one server: its hash and its recent jobs list. */
export function serverKeys(id: string): [string, string] {
  const server = SERVER_KEY_PREFIX + id;
  return [server, server + SERVER_JOBS_SUFFIX];
}

/** The hash of server name → id. */
export const SERVERS_ID_BY_NAME_KEY = redisKey('servers', 'id-by-name');

/** The sorted set of every server by last seen (its seen score: seenScore). */
export const SERVERS_SEEN_KEY = redisKey('servers', 'seen');

/** The sorted set of servers that never fulfilled a request, by last seen (the same score; a job takes a server out of it). */
export const UNUSED_SERVERS_KEY = redisKey('servers', 'unused');

/**
 * The seen sets (SERVERS_SEEN_KEY, UNUSED_SERVERS_KEY) score a server by its last-seen time rounded down to
 * a multiple of this (seenScore), which the server's hash keeps as `seenAt`; so a pop moves the server in
 * them (a ZADD, about 8,000 Redis instructions, and for a server that never fulfilled a request a second)
 * only when its last-seen time enters the next 10 s: about one pop in ten of a bridge that pops every
 * second. Their readers stay exact: a score is at most the server's lastSeenAt and less than
 * SEEN_GRANULARITY_MS below it, so findSeenSince reads the scores after `since` − SEEN_GRANULARITY_MS and
 * keeps the servers whose lastSeenAt is after `since`, and the forgetting of unused servers checks
 * lastSeenAt in the hash (FORGET_UNUSED). 10 s is 1/30 of the 5 minutes after which a server is stale
 * (STALE_SERVER_SECONDS' default): the active list's read reads, besides the active servers, at most those
 * that went stale in the last 10 s. (Coarser would spare few more ZADDs: a bridge with work pops every few
 * seconds anyway.)
 */
export const SEEN_GRANULARITY_MS = 10_000;

/** A last-seen time's score in the seen sets: rounded down to a multiple of SEEN_GRANULARITY_MS. */
export function seenScore(lastSeenAt: number): number {
  return Math.floor(lastSeenAt / SEEN_GRANULARITY_MS) * SEEN_GRANULARITY_MS;
}

type StoredServer = [string[], string[]] | null;

const TEXT_FIELDS = ['id', 'name', 'owner', 'passwordHash', 'model', 'info'] as const;
const NUMBER_FIELDS = ['maxLength', 'maxContentLength', 'tokensGenerated', 'requestsFulfilled', 'createdAt', 'lastSeenAt'] as const;

/**
 * Servers in Redis, under the `{kc}` hash tag: `server:<id>` (a hash of the fields; the password is only
 * ever there as its scrypt hash), `server:<id>:jobs` (the recent jobs, a list trimmed to the performance
 * window), `servers:id-by-name` (name → id: the first registration of a name wins), `servers:seen` (a
 * sorted set of ids by lastSeenAt rounded down to SEEN_GRANULARITY_MS, so the active servers are one range
 * read) and `servers:unused` (the same for servers that never fulfilled a request, which may be forgotten) and `servers:list-version` (a
 * counter: see ServerRepository.listVersion). Every write is one script.
 */
export class RedisServerRepository extends ServerRepository {
  private readonly version: string;

  constructor(private readonly redis: RedisConnection) {
    super();
    this.version = redis.key('servers', 'list-version');
  }

  async findById(id: string): Promise<KoboldServer | undefined> {
    return this.decode((await this.redis.runScript(FIND, this.serverKeys(id))) as StoredServer);
  }

  async findByName(name: string): Promise<KoboldServer | undefined> {
    const id = await this.redis.run((client) => client.hget(SERVERS_ID_BY_NAME_KEY, name));
    return id === null ? undefined : this.findById(id);
  }

  async findSeenSince(since: number): Promise<KoboldServer[]> {
    // A score is less than SEEN_GRANULARITY_MS below the server's lastSeenAt: these ids hold every server seen after `since`.
    const ids = await this.redis.run((client) => client.zrangebyscore(SERVERS_SEEN_KEY, `(${since - SEEN_GRANULARITY_MS}`, '+inf'));
    if (ids.length === 0) return [];
    // One transaction (one round trip) reading every server's hash and jobs.
    const replies = await this.redis.transaction((multi) => {
      for (const [server, jobs] of ids.map((id) => serverKeys(id))) multi.hgetall(server).lrange(jobs, 0, -1);
      return multi;
    });
    const servers: KoboldServer[] = [];
    for (let i = 0; i < replies.length; i += 2) {
      const hash = replies[i] as Record<string, string>;
      // A server forgotten between the two reads has no hash any more; one seen at or before `since` is left out.
      if (hash.id !== undefined && Number(hash.lastSeenAt) > since) servers.push(this.fromHash(hash, replies[i + 1] as string[]));
    }
    return servers;
  }

  async create(server: KoboldServer): Promise<KoboldServer> {
    const fields: (string | number)[] = [];
    for (const field of [...TEXT_FIELDS, ...NUMBER_FIELDS]) fields.push(field, server[field]);
    const seenAt = seenScore(server.lastSeenAt);
    fields.push('maintenance', server.maintenance ? 1 : 0, 'seenAt', seenAt);
    const recent = server.recentJobs.slice(-PERFORMANCE_WINDOW);
    // The sums the pop's deadline is worked out from (see RECORD_JOB_LUA).
    fields.push('jobTokens', recent.reduce((sum, job) => sum + job.tokens, 0), 'jobMs', recent.reduce((sum, job) => sum + jobMilliseconds(job), 0));
    const jobs = recent.map(encodeJob);
    const [serverKey, jobsKey] = this.serverKeys(server.id);
    const holder = (await this.redis.runScript(
      CREATE,
      [SERVERS_ID_BY_NAME_KEY, serverKey, jobsKey, SERVERS_SEEN_KEY, UNUSED_SERVERS_KEY],
      [server.name, server.id, seenAt, server.requestsFulfilled, jobs.length, ...jobs, ...fields],
    )) as string | null;
    if (holder === null) return { ...server, recentJobs: server.recentJobs.slice(-PERFORMANCE_WINDOW).map((job) => ({ ...job })) };
    const existing = await this.findById(holder);
    if (!existing) throw new Error(`Server name "${server.name}" points to server ${holder}, which does not exist`);
    return existing;
  }

  async checkInByName(name: string, update: CheckInUpdate, provenPasswordHash: string | undefined): Promise<CheckInOutcome | undefined> {
    const seenAt = seenScore(update.lastSeenAt);
    const fields: (string | number)[] = [];
    for (const [field, value] of Object.entries(update) as [string, string | number][]) fields.push(field, value);
    const answer = (await this.redis.runScript(
      CHECK_IN_BY_NAME,
      [SERVERS_ID_BY_NAME_KEY, SERVERS_SEEN_KEY, UNUSED_SERVERS_KEY],
      [name, provenPasswordHash ?? '', SERVER_KEY_PREFIX, SERVER_JOBS_SUFFIX, seenAt, ...fields],
    )) as [string[], string[], number] | null;
    if (!answer) return undefined;
    const before = this.decode([answer[0], answer[1]]);
    return before && { before, checkedIn: answer[2] === 1 };
  }

  async addJob(id: string, job: ServerJob): Promise<KoboldServer | undefined> {
    if (!Number.isSafeInteger(job.tokens)) throw new RangeError(`Tokens must be a whole number, got ${job.tokens}`);
    // As recordJob does in memory: a duration below a millisecond counts as a millisecond.
    const seconds = Math.max(job.seconds, 0.001);
    const stored = encodeJob({ tokens: job.tokens, seconds });
    return this.decode((await this.redis.runScript(ADD_JOB, [...this.serverKeys(id), UNUSED_SERVERS_KEY], [id, job.tokens, seconds, stored, PERFORMANCE_WINDOW])) as StoredServer);
  }

  async updateSettings(id: string, settings: ServerSettings): Promise<KoboldServer | undefined> {
    const fields: (string | number)[] = [];
    if (settings.maintenance !== undefined) fields.push('maintenance', settings.maintenance ? 1 : 0);
    if (settings.info !== undefined) fields.push('info', settings.info);
    if (fields.length === 0) return this.findById(id);
    return this.decode((await this.redis.runScript(UPDATE_SETTINGS, this.serverKeys(id), fields)) as StoredServer);
  }

  async deleteById(id: string): Promise<KoboldServer | undefined> {
    return this.decode((await this.redis.runScript(DELETE, [...this.serverKeys(id), SERVERS_ID_BY_NAME_KEY, SERVERS_SEEN_KEY, UNUSED_SERVERS_KEY], [id])) as StoredServer);
  }

  async listVersion(): Promise<number> {
    return Number((await this.redis.run((client) => client.get(this.version))) ?? 0);
  }

  async markListChanged(): Promise<void> {
    await this.redis.run((client) => client.incr(this.version));
  }

  /**
   * Forgets the servers that never fulfilled a request and were last seen at or before `seenBefore`,
   * freeing their names; answers the names. Reads only such servers (`servers:unused`, by last seen), at
   * most FORGET_BATCH per call: the sweep calls it again on its next turn.
   */
  async deleteUnusedSeenBefore(seenBefore: number): Promise<string[]> {
    const ids = await this.redis.run((client) => client.zrangebyscore(UNUSED_SERVERS_KEY, '-inf', seenBefore, 'LIMIT', 0, FORGET_BATCH));
    const names = await Promise.all(
      ids.map((id) => this.redis.runScript(FORGET_UNUSED, [...this.serverKeys(id), SERVERS_ID_BY_NAME_KEY, SERVERS_SEEN_KEY, UNUSED_SERVERS_KEY], [id, seenBefore])),
    );
    return names.filter((name): name is string => typeof name === 'string');
  }

  private serverKeys(id: string): [string, string] {
    return serverKeys(id);
  }

  private decode(stored: StoredServer): KoboldServer | undefined {
    if (!stored) return undefined;
    const [flat, jobs] = stored;
    const hash: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) hash[flat[i]] = flat[i + 1];
    return this.fromHash(hash, jobs);
  }

  private fromHash(hash: Record<string, string>, jobs: string[]): KoboldServer {
    const server = { recentJobs: jobs.map(decodeJob) } as unknown as Record<string, unknown>;
    for (const field of TEXT_FIELDS) server[field] = hash[field] ?? '';
    for (const field of NUMBER_FIELDS) server[field] = Number(hash[field] ?? 0);
    // Absent from servers stored before servers had settings: not in maintenance.
    server.maintenance = hash.maintenance === '1';
    return server as unknown as KoboldServer;
  }
}

/** A job as one list entry: `tokens seconds` (JavaScript's shortest round-trip form of each number). */
function encodeJob(job: ServerJob): string {
  return `${job.tokens} ${job.seconds}`;
}

function decodeJob(entry: string): ServerJob {
  const [tokens, seconds] = entry.split(' ').map(Number);
  return { tokens, seconds };
}
