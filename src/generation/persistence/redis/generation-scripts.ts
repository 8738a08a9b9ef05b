import { LuaScript } from '../../../common/redis/redis-connection';
import { RECORD_JOB_LUA } from '../../../servers/persistence/redis-server.repository';

/**
 * The Lua scripts of RedisGenerationStore: every operation that changes a request is one script, so it is
 * one atomic step in Redis whichever instance runs it. See RedisGenerationStore for the data layout.
 *
 * Every script takes the same KEYS (the fixed keys, see GENERATION_KEYS) and the same first three ARGV
 * (the key prefix `{kc}:gen:` of the per-request, per-offer, per-user and per-generation keys, which the
 * scripts build from it; the settled channel; the instance id that tags its PUBLISHes). Every key is
 * under the one hash tag `{kc}`, so on a Redis Cluster they all live in one slot, the one of KEYS.
 * Their own arguments start at ARGV[4].
 */
export const GENERATION_KEYS = [
  'seq',
  'ids',
  'whole',
  'offers',
  'deadlines',
  'activity',
  'unfinished:requester',
  'unfinished:username',
] as const;
/** After GENERATION_KEYS, three keys of the other stores: the users' usage and contributions hashes, the unused servers. */
export const SCRIPT_KEY_COUNT = GENERATION_KEYS.length + 3;

/** Shared Lua: names, the request as a table, the lines kept in step with its waiting slots, activity, counts, settling. */
const PRELUDE = `
local P, CHANNEL, INSTANCE = ARGV[1], ARGV[2], ARGV[3]
local SEQ, IDS, WHOLE, OFFERS, DEADLINES, ACTIVITY, UNF_REQ, UNF_USER = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local USAGE, CONTRIBUTIONS, UNUSED = KEYS[9], KEYS[10], KEYS[11]

local function reqKey(id) return P .. 'req:' .. id end
local function lineKey(okey) return P .. 'line:' .. okey end
local function skipKey(okey) return P .. 'skip:' .. okey end
local function userKey(username) return P .. 'user:' .. username end
local function genKey(id) return P .. 'g:' .. id end
local function seq() return string.format('%016d', redis.call('INCR', SEQ)) end

-- The shortest decimal that reads back as x (JavaScript's String(x) for the numbers stored here).
local function num(x)
  if x == math.floor(x) and math.abs(x) < 1e15 then return string.format('%d', x) end
  for p = 15, 16 do
    local s = string.format('%.' .. p .. 'g', x)
    if tonumber(s) == x then return s end
  end
  return string.format('%.17g', x)
end

-- skipReason of src/generation/domain/prompt-queue.ts: model, then context, then length. mset is the
-- wished models as "\\n" .. joined by "\\n" .. "\\n" ('' for any model; names hold no control characters).
local function skipReason(w, o)
  if w.mset ~= '' and not string.find(w.mset, '\\n' .. o.model .. '\\n', 1, true) then return 'model' end
  if w.mcl > o.mcl then return 'max_content_length' end
  if w.ml > o.ml then return 'max_length' end
  return nil
end

local function wishesOf(id)
  local v = redis.call('HMGET', reqKey(id), 'mset', 'ml', 'mcl')
  return { mset = v[1], ml = tonumber(v[2]), mcl = tonumber(v[3]) }
end

-- The known offers (at most the line limit), parsed from their keys model|maxLength|maxContentLength.
local offerCache
local function offers()
  if offerCache then return offerCache end
  offerCache = {}
  for _, okey in ipairs(redis.call('ZRANGE', OFFERS, 0, -1)) do
    local model, ml, mcl = string.match(okey, '^(.*)|([^|]*)|([^|]*)$')
    offerCache[#offerCache + 1] = { key = okey, model = model, ml = tonumber(ml), mcl = tonumber(mcl) }
  end
  return offerCache
end

local FIELDS = { 'u', 'rk', 'models', 'mset', 'ml', 'mcl', 'n', 'sc', 'a', 'ca', 'la', 'am', 'un', 'pr', 'rs', 'cx', 'cnt' }
local function load(id)
  local key = reqKey(id)
  local v = redis.call('HMGET', key, unpack(FIELDS))
  if not v[1] then return nil end
  local r = { id = id, key = key, u = v[1], rk = v[2], models = v[3], mset = v[4], ml = tonumber(v[5]), mcl = tonumber(v[6]),
    n = tonumber(v[7]), sc = v[8], a = v[9], ca = v[10], la = v[11], am = v[12], un = tonumber(v[13]), pr = tonumber(v[14]),
    rs = tonumber(v[15]), cx = v[16] == '1', cnt = v[17] == '1' }
  r.pb = redis.call('LLEN', key .. ':putback')
  r.waiting = r.un + r.pb
  return r
end

local function isDone(r) return r.waiting == 0 and r.pr == 0 end

-- Brings the request's place in line in step with its waiting slots (PromptQueue.enqueue/drop): one
-- member per waiting slot, arrival .. ':' .. k for k = 0 .. waiting - 1, in the whole queue and in the
-- line of every known offer that can serve it; the skip counters of the others count it while it waits;
-- its username's set holds it while it waits. O(L x (d + log n)) for L offer lines and d slots changed.
local function setWaiting(r, new)
  local old = r.waiting
  if new == old then return end
  if new > old then
    local args = {}
    for k = old, new - 1 do
      args[#args + 1] = r.sc
      args[#args + 1] = r.a .. ':' .. k
    end
    redis.call('ZADD', WHOLE, unpack(args))
    for _, o in ipairs(offers()) do
      local reason = skipReason(r, o)
      if reason == nil then redis.call('ZADD', lineKey(o.key), unpack(args))
      elseif old == 0 then redis.call('HINCRBY', skipKey(o.key), reason, 1) end
    end
    if old == 0 then redis.call('ZADD', userKey(r.u), r.sc, r.a) end
  else
    local members = {}
    for k = new, old - 1 do members[#members + 1] = r.a .. ':' .. k end
    redis.call('ZREM', WHOLE, unpack(members))
    for _, o in ipairs(offers()) do
      local reason = skipReason(r, o)
      if reason == nil then redis.call('ZREM', lineKey(o.key), unpack(members))
      elseif new == 0 then redis.call('HINCRBY', skipKey(o.key), reason, -1) end
    end
    if new == 0 then redis.call('ZREM', userKey(r.u), r.a) end
  end
  r.waiting = new
end

-- Activity: score the time, member a fresh sequence number and the id (ties go in order of activity).
local function touch(r, now)
  if r.am ~= '' then redis.call('ZREM', ACTIVITY, r.am) end
  r.am = seq() .. r.id
  r.la = now
  redis.call('ZADD', ACTIVITY, now, r.am)
  redis.call('HSET', r.key, 'la', now, 'am', r.am)
end

local function addCount(hash, field, change)
  if redis.call('HINCRBY', hash, field, change) <= 0 then redis.call('HDEL', hash, field) end
end

local function save(r)
  redis.call('HSET', r.key, 'un', r.un, 'pr', r.pr, 'rs', r.rs, 'cx', r.cx and '1' or '0')
end

-- An attempt in progress on the slot stops (it missed its deadline, or its server gave it up): the slot
-- goes back to waiting, served first, or is dropped when the request was cancelled; counted in
-- restarted either way. The caller has checked that the slot is this attempt's. Saves r. True when put back.
local function putBack(r, slot)
  r.pr = r.pr - 1
  r.rs = r.rs + 1
  if r.cx then
    redis.call('HSET', r.key .. ':slots', slot, 'd')
    save(r)
    return false
  end
  redis.call('HSET', r.key .. ':slots', slot, 'w')
  redis.call('RPUSH', r.key .. ':putback', slot)
  r.pb = r.pb + 1
  setWaiting(r, r.waiting + 1)
  save(r)
  return true
end

-- After a change: the unfinished counts, and a PUBLISH when the request just became done. True then.
local function settle(r, wasDone)
  local unfinished = not isDone(r)
  if unfinished ~= r.cnt then
    local change = unfinished and 1 or -1
    addCount(UNF_REQ, r.rk, change)
    addCount(UNF_USER, r.u, change)
    r.cnt = unfinished
    redis.call('HSET', r.key, 'cnt', unfinished and '1' or '0')
  end
  if wasDone or unfinished then return false end
  redis.call('PUBLISH', CHANNEL, INSTANCE .. ' ' .. r.id)
  return true
end

local function record(r)
  return { r.id, r.u, r.rk, r.models, tostring(r.ml), tostring(r.mcl), tostring(r.n), r.ca, r.la,
    r.waiting, r.pr, r.rs, r.cx and 1 or 0, redis.call('LRANGE', r.key .. ':texts', 0, -1), redis.call('LRANGE', r.key .. ':authors', 0, -1) }
end

-- A generation as stored; an attempt in progress or overdue whose slot another attempt completed reads
-- 'superseded' (as in memory: decided when read, so completing a slot need not find its other attempts).
local function generation(id)
  local v = redis.call('HMGET', genKey(id), 'rid', 'sid', 'st', 'dl', 's', 'slot')
  if not v[1] then return nil end
  local state = v[5]
  if (state == 'processing' or state == 'overdue') and redis.call('HGET', reqKey(v[1]) .. ':slots', v[6]) == 'f' then state = 'superseded' end
  return { id, v[1], v[2], v[3], v[4], state }
end
`;

function script(name: string, lua: string): LuaScript {
  return new LuaScript(name, SCRIPT_KEY_COUNT, PRELUDE + lua);
}

/**
 * ARGV: id, username, requesterKey, models (JSON), mset, maxLength, maxContentLength, n, score (−priority),
 * now, prompt, params (JSON), cap. The per-requester cap is checked and the request queued in one step.
 * O(L × (n + log N)). Answers 'queued' or 'over-limit'.
 */
export const ENQUEUE = script(
  'kcGenEnqueue',
  `
local id, rk = ARGV[4], ARGV[6]
if tonumber(redis.call('HGET', UNF_REQ, rk) or '0') >= tonumber(ARGV[16]) then return 'over-limit' end
local key = reqKey(id)
if redis.call('EXISTS', key) == 1 then return redis.error_reply('ERR request ' .. id .. ' exists already') end
local a = seq()
redis.call('HSET', key, 'u', ARGV[5], 'rk', rk, 'models', ARGV[7], 'mset', ARGV[8], 'ml', ARGV[9], 'mcl', ARGV[10], 'n', ARGV[11],
  'sc', ARGV[12], 'a', a, 'ca', ARGV[13], 'la', ARGV[13], 'am', '', 'un', ARGV[11], 'pr', 0, 'rs', 0, 'cx', '0', 'cnt', '0',
  'prompt', ARGV[14], 'params', ARGV[15])
redis.call('HSET', IDS, a, id)
local r = load(id)
r.waiting = 0
setWaiting(r, r.n)
touch(r, ARGV[13])
settle(r, true)
return 'queued'`,
);

/**
 * A pop. ARGV: offer key, model, maxLength, maxContentLength, serverId, generationId, now, minMs, msPerToken,
 * maxMs, line limit, priority scan bound, then the priority usernames. Makes the offer's line when it has
 * none (O(N), from the whole queue; past the line limit the least recently popped line goes first); then
 * O(U × S + L × log N) for U priority usernames scanned up to S requests each and L lines. Answers
 * {'started', generationId, requestId, deadline, prompt, params, models, maxLength, maxContentLength} or
 * {'skipped', model, max_content_length, max_length}.
 */
export const TAKE_NEXT_SLOT = script(
  'kcGenTakeNextSlot',
  `
local o = { key = ARGV[4], model = ARGV[5], ml = tonumber(ARGV[6]), mcl = tonumber(ARGV[7]) }
local serverId, genId, now = ARGV[8], ARGV[9], ARGV[10]
local line, skip = lineKey(o.key), skipKey(o.key)
if not redis.call('ZSCORE', OFFERS, o.key) then
  if redis.call('ZCARD', OFFERS) >= tonumber(ARGV[14]) then
    local oldest = redis.call('ZRANGE', OFFERS, 0, 0)[1]
    redis.call('DEL', lineKey(oldest), skipKey(oldest))
    redis.call('ZREM', OFFERS, oldest)
  end
  -- The new line, read once from the whole queue (already in serving order; a request's slots side by side).
  redis.call('DEL', line, skip)
  local counts = { model = 0, max_content_length = 0, max_length = 0 }
  local all = redis.call('ZRANGE', WHOLE, 0, -1, 'WITHSCORES')
  local batch, lastA, servable = {}, nil, false
  for i = 1, #all, 2 do
    local m = all[i]
    local a = string.sub(m, 1, 16)
    if a ~= lastA then
      lastA = a
      local reason = skipReason(wishesOf(redis.call('HGET', IDS, a)), o)
      servable = reason == nil
      if not servable then counts[reason] = counts[reason] + 1 end
    end
    if servable then
      batch[#batch + 1] = all[i + 1]
      batch[#batch + 1] = m
      if #batch >= 2000 then
        redis.call('ZADD', line, unpack(batch))
        batch = {}
      end
    end
  end
  if #batch > 0 then redis.call('ZADD', line, unpack(batch)) end
  redis.call('HSET', skip, 'model', counts.model, 'max_content_length', counts.max_content_length, 'max_length', counts.max_length)
end
redis.call('ZADD', OFFERS, now, o.key)

-- The priority usernames' best servable requests (each username's set is in serving order; at most the
-- scan bound of its first requests are looked at), before the offer's line.
local bestScore, bestA
local bound = tonumber(ARGV[15])
for i = 16, #ARGV do
  local candidates = redis.call('ZRANGE', userKey(ARGV[i]), 0, bound - 1, 'WITHSCORES')
  for j = 1, #candidates, 2 do
    local a, score = candidates[j], tonumber(candidates[j + 1])
    if bestA and (score > bestScore or (score == bestScore and a > bestA)) then break end
    if skipReason(wishesOf(redis.call('HGET', IDS, a)), o) == nil then
      bestScore, bestA = score, a
      break
    end
  end
end
if not bestA then
  local first = redis.call('ZRANGE', line, 0, 0)[1]
  if not first then
    local c = redis.call('HMGET', skip, 'model', 'max_content_length', 'max_length')
    return { 'skipped', tonumber(c[1] or '0'), tonumber(c[2] or '0'), tonumber(c[3] or '0') }
  end
  bestA = string.sub(first, 1, 16)
end

local r = load(redis.call('HGET', IDS, bestA))
local slot
if r.pb > 0 then
  slot = tonumber(redis.call('LPOP', r.key .. ':putback'))
  r.pb = r.pb - 1
else
  slot = r.n - r.un
  r.un = r.un - 1
end
redis.call('HSET', r.key .. ':slots', slot, 'p' .. genId)
r.pr = r.pr + 1
setWaiting(r, r.waiting - 1)
save(r)
touch(r, now)
local wait = r.ml * tonumber(ARGV[12])
if wait < tonumber(ARGV[11]) then wait = tonumber(ARGV[11]) end
if wait > tonumber(ARGV[13]) then wait = tonumber(ARGV[13]) end
local deadline = num(tonumber(now) + wait)
redis.call('HSET', genKey(genId), 'rid', r.id, 'sid', serverId, 'm', o.model, 'slot', slot, 'st', now, 'dl', deadline, 's', 'processing')
redis.call('ZADD', DEADLINES, deadline, genId)
redis.call('SADD', r.key .. ':gens', genId)
local text = redis.call('HMGET', r.key, 'prompt', 'params')
return { 'started', genId, r.id, deadline, text[1], text[2], r.models, tostring(r.ml), tostring(r.mcl) }`,
);

/**
 * A submit. ARGV: generationId, text, now, tokens, server owner, server key prefix, server jobs suffix,
 * performance window. Takes the text and credits the requester's usage, the owner's contribution and the
 * server's job (RECORD_JOB_LUA) in the same step. O(L × log N) (a late text may take a put-back slot out of
 * line). Answers {'accepted', request, generation, became done (1/0), cancelled (1/0)} or {refusal}.
 */
export const SUBMIT = script(
  'kcGenSubmit',
  `${RECORD_JOB_LUA}
local genId, now, tokens = ARGV[4], ARGV[6], ARGV[7]
local gkey = genKey(genId)
local g = redis.call('HMGET', gkey, 'rid', 'sid', 'slot', 'st', 's', 'm')
if not g[1] then return { 'unknown' } end
if g[5] == 'submitted' then return { 'already-submitted' } end
local r = load(g[1])
if not r then return { 'unknown' } end
local slotsKey = r.key .. ':slots'
local slotState = redis.call('HGET', slotsKey, g[3])
if slotState == 'f' then return { 'slot-complete' } end
local wasDone = isDone(r)
if slotState and string.sub(slotState, 1, 1) == 'p' then
  r.pr = r.pr - 1
  local redo = string.sub(slotState, 2)
  -- A late text of an overdue attempt completes the slot: the redo in progress reads 'superseded' from
  -- now on (see generation()) and has no deadline any more.
  if redo ~= genId then redis.call('ZREM', DEADLINES, redo) end
elseif slotState == 'w' then
  redis.call('LREM', r.key .. ':putback', 1, g[3])
  r.pb = r.pb - 1
  setWaiting(r, r.waiting - 1)
end
-- A dropped slot (request cancelled after a missed deadline) still takes the text: the work was done.
redis.call('HSET', slotsKey, g[3], 'f')
redis.call('HSET', gkey, 's', 'submitted')
redis.call('ZREM', DEADLINES, genId)
redis.call('RPUSH', r.key .. ':texts', ARGV[5])
-- Its author beside it: the server id (a UUID), a newline, the model (a generation started before models
-- were recorded has none).
redis.call('RPUSH', r.key .. ':authors', g[2] .. '\\n' .. (g[6] or ''))
save(r)
touch(r, now)
redis.call('HINCRBY', USAGE, r.u, tokens)
redis.call('HINCRBY', CONTRIBUTIONS, ARGV[8], tokens)
local seconds = (tonumber(now) - tonumber(g[4])) / 1000
if seconds < 0.001 then seconds = 0.001 end
local server = ARGV[9] .. g[2]
recordJob(server, server .. ARGV[10], UNUSED, g[2], tokens, tokens .. ' ' .. num(seconds), ARGV[11])
local settled = settle(r, wasDone)
return { 'accepted', record(r), generation(genId), settled and 1 or 0, r.cx and 1 or 0 }`,
);

/**
 * A give-up (the v2 API's faulted submit). ARGV: generationId, now. When the attempt is still the one in
 * progress on its slot, the slot goes back to waiting (or is dropped, the request cancelled) as after a
 * missed deadline, the attempt reads 'overdue' and leaves the deadlines; nothing is credited. O(L × log N).
 * Answers {'put-back' or 'dropped', request, settled (1/0)} or {'unknown' | 'already-submitted' | 'not-in-progress'}.
 */
export const ABANDON = script(
  'kcGenAbandon',
  `
local genId, now = ARGV[4], ARGV[5]
local gkey = genKey(genId)
local g = redis.call('HMGET', gkey, 'rid', 'slot', 's')
if not g[1] then return { 'unknown' } end
if g[3] == 'submitted' then return { 'already-submitted' } end
local r = load(g[1])
if not r then return { 'unknown' } end
if g[3] ~= 'processing' or redis.call('HGET', r.key .. ':slots', g[2]) ~= 'p' .. genId then return { 'not-in-progress' } end
redis.call('ZREM', DEADLINES, genId)
redis.call('HSET', gkey, 's', 'overdue')
local outcome = putBack(r, g[2]) and 'put-back' or 'dropped'
touch(r, now)
local settled = settle(r, false)
return { outcome, record(r), settled and 1 or 0 }`,
);

/** A cancel. ARGV: id, now. Drops the waiting slots (put-back ones too). O(L × log N). Answers {request, settled} or false. */
export const CANCEL = script(
  'kcGenCancel',
  `
local r = load(ARGV[4])
if not r then return false end
local wasDone = isDone(r)
r.cx = true
local pbKey = r.key .. ':putback'
for _, slot in ipairs(redis.call('LRANGE', pbKey, 0, -1)) do redis.call('HSET', r.key .. ':slots', slot, 'd') end
redis.call('DEL', pbKey)
r.un = 0
r.pb = 0
setWaiting(r, 0)
save(r)
touch(r, ARGV[5])
local settled = settle(r, wasDone)
return { record(r), settled and 1 or 0 }`,
);

/**
 * ARGV: now, batch. Puts back (or, cancelled, drops) the slots of at most `batch` processing generations
 * whose deadline is at or before now, each at most once (taken out of the deadlines set in the same step).
 * O(B × L × log N). Answers {slots put back, generations read, ids of requests that became done}.
 */
export const RESTART_OVERDUE = script(
  'kcGenRestartOverdue',
  `
local due = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
local restarted, settled = 0, {}
for _, genId in ipairs(due) do
  redis.call('ZREM', DEADLINES, genId)
  local gkey = genKey(genId)
  local g = redis.call('HMGET', gkey, 'rid', 'slot', 's')
  if g[1] and g[3] == 'processing' then
    redis.call('HSET', gkey, 's', 'overdue')
    local r = load(g[1])
    if r and redis.call('HGET', r.key .. ':slots', g[2]) == 'p' .. genId then
      local wasDone = isDone(r)
      if putBack(r, g[2]) then restarted = restarted + 1 end
      if settle(r, wasDone) then settled[#settled + 1] = r.id end
    end
  end
end
return { restarted, #due, settled }`,
);

/**
 * ARGV: cutoff, limit. Deletes at most `limit` requests idle since cutoff, the longest idle first, with
 * their generations, texts, prompt and params; each is taken out of the activity set in the same step,
 * so only one instance deletes (and reports) it. O(limit × (L × log N + G)) for G generations each.
 * Answers {id, done (1/0), ...}.
 */
export const EXPIRE_IDLE = script(
  'kcGenExpireIdle',
  `
local idle = redis.call('ZRANGEBYSCORE', ACTIVITY, '-inf', ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for _, am in ipairs(idle) do
  redis.call('ZREM', ACTIVITY, am)
  local r = load(string.sub(am, 17))
  if r then
    local done = isDone(r)
    setWaiting(r, 0)
    if r.cnt then
      addCount(UNF_REQ, r.rk, -1)
      addCount(UNF_USER, r.u, -1)
    end
    for _, genId in ipairs(redis.call('SMEMBERS', r.key .. ':gens')) do
      redis.call('DEL', genKey(genId))
      redis.call('ZREM', DEADLINES, genId)
    end
    redis.call('DEL', r.key, r.key .. ':texts', r.key .. ':authors', r.key .. ':putback', r.key .. ':slots', r.key .. ':gens')
    redis.call('HDEL', IDS, r.a)
    redis.call('PUBLISH', CHANNEL, INSTANCE .. ' ' .. r.id)
    out[#out + 1] = r.id
    out[#out + 1] = done and 1 or 0
  end
end
return out`,
);

/** ARGV: id. The generation, or false. O(1). */
export const FIND_GENERATION = script(
  'kcGenFindGeneration',
  `
return generation(ARGV[4]) or false`,
);

/** ARGV: id. The request (without prompt and params) and its texts, or false. O(1) + its texts. */
export const FIND_REQUEST = script(
  'kcGenFindRequest',
  `
local r = load(ARGV[4])
if not r then return false end
return record(r)`,
);

/**
 * ARGV: id, then per offer its key, model, maxLength, maxContentLength. The request and, per offer, the
 * waiting slots ahead of its next slot in that offer's line (ZRANK of its first member: one member per
 * waiting slot), −1 where the offer cannot serve it or has no line; and the fewest (the whole queue's
 * figure when none). O(K × log N) for K offers. Answers {request, ahead, position} or false.
 */
export const FIND_STANDING = script(
  'kcGenFindStanding',
  `
local r = load(ARGV[4])
if not r then return false end
local ahead, position = {}, -1
local first = r.a .. ':0'
for i = 5, #ARGV, 4 do
  local v = -1
  if r.waiting > 0 then
    local o = { key = ARGV[i], model = ARGV[i + 1], ml = tonumber(ARGV[i + 2]), mcl = tonumber(ARGV[i + 3]) }
    if skipReason(r, o) == nil and redis.call('ZSCORE', OFFERS, o.key) then
      v = redis.call('ZRANK', lineKey(o.key), first) or -1
    end
  end
  ahead[#ahead + 1] = v
  if v >= 0 and (position < 0 or v < position) then position = v end
end
if position < 0 then
  position = 0
  if r.waiting > 0 then position = redis.call('ZRANK', WHOLE, first) or 0 end
end
return { record(r), ahead, position }`,
);

/** ARGV: the offer keys of the active servers. Drops the lines (and skip counters) of every other offer. O(L). */
export const RETAIN_OFFERS = script(
  'kcGenRetainOffers',
  `
local keep = {}
for i = 4, #ARGV do keep[ARGV[i]] = true end
for _, okey in ipairs(redis.call('ZRANGE', OFFERS, 0, -1)) do
  if not keep[okey] then
    redis.call('DEL', lineKey(okey), skipKey(okey))
    redis.call('ZREM', OFFERS, okey)
  end
end
return 0`,
);
