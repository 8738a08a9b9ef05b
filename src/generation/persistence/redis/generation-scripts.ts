import { LuaFunction, LuaLibrary, redisKey } from '../../../common/redis/redis-connection';
import { PERFORMANCE_WINDOW } from '../../../servers/domain/kobold-server';
import {
  PROVEN_CHECK_IN_LUA,
  RECORD_JOB_LUA,
  SERVER_JOBS_SUFFIX,
  SERVER_KEY_PREFIX,
  SERVERS_ID_BY_NAME_KEY,
  SERVERS_SEEN_KEY,
  UNUSED_SERVERS_KEY,
} from '../../../servers/persistence/redis-server.repository';
import { USER_TALLY_KEYS } from '../../../users/persistence/redis-user.repository';

/**
 * The Lua of RedisGenerationStore: every operation that changes a request is one function of one library
 * (`kcgen`, see LuaLibrary: loaded once per Redis, called by FCALL), so it is one atomic step in Redis
 * whichever instance runs it. See RedisGenerationStore for the data layout. (They were EVAL scripts, which
 * ran the whole shared prelude on every call: about 40,000 Redis instructions per call.)
 *
 * The keys are constants of the library's code (every key is under the one hash tag `{kc}`, so on a Redis
 * Cluster they all live in one slot): a function call passes one key, `{kc}:gen:seq`, which declares the
 * slot, and as its first argument the id of the calling instance (it tags the PUBLISHes). Its own
 * arguments start at ARGV[2]. (Passing the eleven fixed keys and the key prefixes on every call cost
 * Redis about 9,000 instructions per call.)
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
  'deferred',
] as const;
/** The per-request, per-offer, per-user and per-generation keys start with this prefix (see RedisGenerationStore). */
export const GENERATION_KEY_PREFIX = redisKey('gen', '');

/**
 * How far a request's score in the activity set may lag its last activity ('la'), in ms: a pop, submit
 * or cancel within this time of the score's last write writes only 'la' (see touch). The expiry reads
 * 'la' itself (EXPIRE_IDLE), so it stays exact; the lag bounds how many scores a sweep corrects. A
 * tenth of the 10-minute expiry.
 */
export const ACTIVITY_INDEX_LAG_MS = 60_000;

/** The channel the functions PUBLISH settled requests on (`<instance> <request id>`). */
export const SETTLED_CHANNEL = redisKey('gen', 'settled');

/** The one key a call passes (see above). */
export const FUNCTION_KEYS = [GENERATION_KEY_PREFIX + GENERATION_KEYS[0]];

/** A Lua string literal of `value` (a key: no quote, backslash or line break, checked). */
function luaString(value: string): string {
  if (/['\\\r\n]/.test(value)) throw new Error(`Not a plain key: ${value}`);
  return `'${value}'`;
}

/** The library's constants: the keys (of this store and of the users' and servers' stores it writes) and the window. */
const CONSTANTS = [
  `local P, CHANNEL = ${luaString(GENERATION_KEY_PREFIX)}, ${luaString(SETTLED_CHANNEL)}`,
  `local SEQ, IDS, WHOLE, OFFERS, DEADLINES, ACTIVITY, UNF_REQ, UNF_USER, DEFERRED = ${GENERATION_KEYS.map((key) => luaString(GENERATION_KEY_PREFIX + key)).join(', ')}`,
  `local USAGE, CONTRIBUTIONS, UNUSED = ${[USER_TALLY_KEYS.usage, USER_TALLY_KEYS.contributions, UNUSED_SERVERS_KEY].map(luaString).join(', ')}`,
  `local SERVER_PREFIX, SERVER_JOBS_SUFFIX, SERVERS_BY_NAME, SERVERS_SEEN = ${[SERVER_KEY_PREFIX, SERVER_JOBS_SUFFIX, SERVERS_ID_BY_NAME_KEY, SERVERS_SEEN_KEY].map(luaString).join(', ')}`,
  `local PERFORMANCE_WINDOW, ACTIVITY_LAG = ${PERFORMANCE_WINDOW}, ${ACTIVITY_INDEX_LAG_MS}`,
].join('\n');

/**
 * The library's shared Lua. Each redis.call costs about 5,000 Redis instructions beyond the command itself
 * (arguments and reply converted both ways), so the functions keep calls few: a request's changes
 * are gathered (`set`) and written by one HSET (`flush`); its slots' states, texts and counters are
 * fields of its one hash; a generation's state is read from its slot's field. Arguments are passed as
 * strings (decimals kept as read, or from the tables below): Redis formats a Lua number argument with
 * snprintf, and Lua a number in a concatenation with sprintf, about 1,500-2,000 instructions each.
 */
const PRELUDE = `
${CONSTANTS}
local INSTANCE
-- Per call: the offers read, the line counter read (see offers and lineChanges).
local offerCache, linesChanged
-- The first step of every function: the calling instance, and nothing read yet.
local function begin()
  INSTANCE = ARGV[1]
  offerCache, linesChanged = nil, nil
end

local function reqKey(id) return P .. 'req:' .. id end
local function lineKey(okey) return P .. 'line:' .. okey end
local function skipKey(okey) return P .. 'skip:' .. okey end
local function userKey(username) return P .. 'user:' .. username end
local function genKey(id) return P .. 'g:' .. id end

-- Whole numbers -1 .. 1024 and their decimals, both ways, made once when the library loads: a tonumber or
-- tostring (or a number handed to redis.call, which formats it) costs a libc strtod or sprintf each time.
-- Not more: Lua's garbage collector walks every live string and table on each of its cycles, which Redis
-- drives every 50 calls, so a larger table costs more than it saves (counted with bench/redis-instructions.ts:
-- 726,471 Redis instructions per pop + submit with -1 .. 4096, 685,249 with -1 .. 1024, 699,974 with
-- -1 .. 255, 709,355 with none).
local DECIMAL, WHOLE_NUMBER = {}, {}
for i = -1, 1024 do
  local decimal = '' .. i
  DECIMAL[i], WHOLE_NUMBER[decimal] = decimal, i
end
-- n as a decimal, for redis.call and for .. (n itself when it is not a small whole number: they format it).
local function dec(n) return DECIMAL[n] or n end
-- n as a decimal string, for a reply.
local function text(n) return DECIMAL[n] or tostring(n) end
-- The number a decimal stands for (nil for nil).
local function int(s) return WHOLE_NUMBER[s] or tonumber(s) end
-- The number a decimal that must stand for one stands for (or a number itself): Lua's own conversion for
-- arithmetic converts once, where tonumber converts twice (it checks, then converts).
local function whole(s) return WHOLE_NUMBER[s] or s + 0 end
-- A whole number n as a decimal, negative ones down to -1024 too (a concatenation costs less than the
-- formatting); n itself otherwise, for redis.call to format.
local function signedDec(n)
  local decimal = DECIMAL[n]
  if decimal then return decimal end
  if n < 0 then
    decimal = DECIMAL[-n]
    if decimal then return '-' .. decimal end
  end
  return n
end

-- Milliseconds 1 .. 999 as the digits after the point of a number of seconds, as JavaScript writes them
-- ('001', '01', '1', '12', ...: no trailing zero).
local FRACTION = {}
for ms = 1, 999 do
  FRACTION[ms] = (('' .. (1000 + ms)):sub(2):gsub('0+$', ''))
end
-- A whole number of milliseconds of at most 4,096 s as seconds, written as JavaScript's String(ms / 1000)
-- (and num) would, without formatting a float; nil for any other number.
local function secondsText(ms)
  local whole = DECIMAL[math.floor(ms / 1000)]
  if not whole or ms ~= math.floor(ms) then return nil end
  local fraction = ms % 1000
  if fraction == 0 then return whole end
  return whole .. '.' .. FRACTION[fraction]
end
-- The pop's settings, passed as one text on every call ('<the deadline's safety factor x 1000> <minMs> <maxMs>
-- <line limit> <priority scan bound> <deferral limit>': one argument, not six; each costs Redis a conversion), as a table of
-- numbers, remembered by their text (at most 64 remembered).
local SETTINGS, settingsKept = {}, 0
local function settings(s)
  local value = SETTINGS[s]
  if value then return value end
  if settingsKept >= 64 then SETTINGS, settingsKept = {}, 0 end
  local safety, minMs, maxMs, lineLimit, bound, deferLimit = string.match(s, '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
  value = { safety = tonumber(safety), minMs = tonumber(minMs), maxMs = tonumber(maxMs), lineLimit = tonumber(lineLimit), bound = tonumber(bound),
    deferLimit = tonumber(deferLimit) }
  SETTINGS[s], settingsKept = value, settingsKept + 1
  return value
end

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

-- The known offers (at most the line limit), parsed from their keys model|maxLength|maxContentLength.
local function offers()
  if offerCache then return offerCache end
  offerCache = {}
  for _, okey in ipairs(redis.call('ZRANGE', OFFERS, '0', '-1')) do
    local model, ml, mcl = string.match(okey, '^(.*)|([^|]*)|([^|]*)$')
    offerCache[#offerCache + 1] = { key = okey, model = model, ml = int(ml), mcl = int(mcl) }
  end
  return offerCache
end

local REQUEST_FIELDS = { 'u', 'rk', 'models', 'mset', 'ml', 'mcl', 'n', 'sc', 'a', 'ca', 'la', 'un', 'pb', 'pr', 'rs', 'cx', 'cnt', 'nt', 'lo', 'lb', 'nf', 'ds' }
-- A request as a table (nil when unknown), then the values of the extra fields asked for (at most three).
-- (Its activity score 'as' is such an extra, for the functions that touch it: a status read does not.)
-- One HMGET reads the extras first (an absent one reads 'u' again), then REQUEST_FIELDS: no list is built.
local function load(id, e1, e2, e3)
  local key = reqKey(id)
  local v = redis.call('HMGET', key, e1 or 'u', e2 or 'u', e3 or 'u', unpack(REQUEST_FIELDS))
  if not v[4] then return nil end
  local r = { id = id, key = key, u = v[4], rk = v[5], models = v[6], mset = v[7], ml = int(v[8]), mcl = int(v[9]), mlText = v[8], mclText = v[9],
    n = int(v[10]), sc = v[11], a = v[12], ca = v[13], la = v[14], un = int(v[15]), pb = int(v[16]), pr = int(v[17]),
    rs = int(v[18]), cx = v[19] == '1', cnt = v[20] == '1', nt = int(v[21]), lo = v[22] or '', lb = v[23] or '', nf = v[24] == '1',
    ds = int(v[25] or '0'), w = {} }
  r.waiting = r.un + r.pb
  return r, v[1], v[2], v[3]
end

-- What a pop's take reads of a request: prompt, params and g, then load's fields but those only a submit,
-- a cancel or an expiry needs (rk, ca, la, rs, cx, cnt, nt, nf: absent from the table) and those the take
-- was handed: its arrival and wishes (a, ml, mcl, mset), as its entry in 'ids' or its member in its
-- username's set carries them. No score (sc): a take only takes slots out (each field read costs Redis
-- about 1,800 instructions).
local TAKE_FIELDS = { 'prompt', 'params', 'g', 'u', 'models', 'n', 'un', 'pb', 'pr', 'lo', 'lb', 'ds', 'as' }
local function loadToTake(id, a, mlText, mclText, mset)
  local key = reqKey(id)
  local v = redis.call('HMGET', key, unpack(TAKE_FIELDS))
  local r = { id = id, key = key, a = a, mset = mset, ml = int(mlText), mcl = int(mclText), mlText = mlText, mclText = mclText,
    u = v[4], models = v[5], n = int(v[6]), un = int(v[7]), pb = int(v[8]), pr = int(v[9]), lo = v[10] or '', lb = v[11] or '', ds = int(v[12] or '0'),
    as = v[13], w = {} }
  r.waiting = r.un + r.pb
  return r, v[1], v[2], v[3]
end

-- What a submit reads of a request: the slot's field, then load's fields but those it does not use (models,
-- n, la, rs) and those only the line's bookkeeping needs (sc, a, mset, ml, mcl, lo, lb: a late text of a
-- put-back slot reads them, and ds, with loadLineFields before its setWaiting). (Reading the 24 fields of load cost
-- Redis about 13,000 instructions more per submit.)
local SUBMIT_FIELDS = { 'u', 'rk', 'ca', 'un', 'pb', 'pr', 'cx', 'cnt', 'nt', 'nf', 'as' }
local function loadToSubmit(id, slotField)
  local key = reqKey(id)
  local v = redis.call('HMGET', key, slotField, unpack(SUBMIT_FIELDS))
  if not v[2] then return nil end
  local r = { id = id, key = key, u = v[2], rk = v[3], ca = v[4], un = int(v[5]), pb = int(v[6]), pr = int(v[7]), cx = v[8] == '1',
    cnt = v[9] == '1', nt = int(v[10]), nf = v[11] == '1', as = v[12], w = {} }
  r.waiting = r.un + r.pb
  return r, v[1]
end
-- The fields of load that setWaiting reads, for a request read by loadToSubmit.
local function loadLineFields(r)
  local v = redis.call('HMGET', r.key, 'sc', 'a', 'mset', 'ml', 'mcl', 'lo', 'lb', 'ds')
  r.sc, r.a, r.mset, r.ml, r.mcl, r.mlText, r.mclText, r.lo, r.lb, r.ds = v[1], v[2], v[3], int(v[4]), int(v[5]), v[4], v[5], v[6] or '', v[7] or '', int(v[8] or '0')
end

-- Changes of the request's hash, written together by flush.
local function set(r, field, value)
  r.w[#r.w + 1] = field
  r.w[#r.w + 1] = value
end
local function flush(r)
  if #r.w > 0 then redis.call('HSET', r.key, unpack(r.w)) end
  r.w = {}
end

-- An entry of 'ids' (arrival -> id, then the score and the wishes a line is made from): its score and wishes.
local function wishesOfEntry(entry)
  local sc, ml, mcl, mset = string.match(entry, '^[^\\n]*\\n([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n(.*)$')
  return { sc = sc, mset = mset, ml = int(ml), mcl = int(mcl) }
end

local function isDone(r) return r.waiting == 0 and r.pr == 0 end

-- Its member in its username's set: the arrival first (the order), then what a pop checks without reading the request.
-- (The lengths as read or sent, mlText and mclText: a number in a concatenation costs Lua a float formatting.)
local function userMember(r) return r.a .. '\\n' .. r.id .. '\\n' .. r.mlText .. '\\n' .. r.mclText .. '\\n' .. r.mset end

-- redis.call(command, key, ...items) in calls of at most 4,000 items (Lua's unpack limit is about 8,000).
local function each(command, key, items)
  for i = 1, #items, 4000 do redis.call(command, key, unpack(items, i, math.min(i + 3999, #items))) end
end

-- The members arrival .. ':' .. k of the request's slots k = from .. to - 1, each after its score when scored.
local function slotMembers(r, from, to, scored)
  local items = {}
  for k = from, to - 1 do
    if scored then items[#items + 1] = r.sc end
    items[#items + 1] = r.a .. ':' .. dec(k)
  end
  return items
end

-- Deferred slots (PromptQueue's deferred counts). A pop that takes one of a request's waiting slots but not
-- its last takes the slot's member out of the whole queue only: the request's lines keep it, as a deferred
-- slot, so a pop costs no redis.call per line holding the request (up to 40 ZREMs of a Horde-shaped
-- request). A request's lines hold arrival .. ':' .. k for k = 0 .. waiting + ds - 1, where 'ds' (a field of
-- its hash, mirrored in the hash 'deferred': arrival -> ds, absent when 0) counts its deferred slots; its
-- first member stays a waiting slot (ds > 0 only while waiting > 0), so a line's head is always a request
-- that waits and the lines' order is unchanged. A status read takes the deferred slots of the requests
-- ahead off its ranks (exact: see FIND_STANDING). At most the deferral limit of requests keep deferred slots:
-- past it, and before any line is made or dropped, the others' are taken out of their lines (takeDeferred),
-- so 'lo' is right for every request with deferred slots ('lb' is the counter's value).
-- The requests but the one of arrival 'except' that keep deferred slots: {arrival, deferred slots, its
-- entry in 'ids', ...}, and the arrivals read.
local function deferredRequests(except)
  local d = redis.call('HGETALL', DEFERRED)
  local out, arrivals = {}, {}
  if #d == 0 then return out, arrivals end
  local counts = {}
  for i = 1, #d, 2 do
    if d[i] ~= except then
      arrivals[#arrivals + 1] = d[i]
      counts[#arrivals] = d[i + 1]
    end
  end
  if #arrivals == 0 then return out, arrivals end
  local entries = redis.call('HMGET', IDS, unpack(arrivals))
  for k = 1, #arrivals do
    if entries[k] then
      out[#out + 1] = arrivals[k]
      out[#out + 1] = counts[k]
      out[#out + 1] = entries[k]
    end
  end
  return out, arrivals
end

local function takeDeferred(except)
  local deferred, arrivals = deferredRequests(except)
  for i = 1, #deferred, 3 do
    local r = { key = reqKey(string.match(deferred[i + 2], '^[^\\n]*')), a = deferred[i] }
    local v = redis.call('HMGET', r.key, 'un', 'pb', 'lo')
    local waiting = int(v[1]) + int(v[2])
    local items = slotMembers(r, waiting, waiting + int(deferred[i + 1]), false)
    for code, okey in string.gmatch(v[3] or '', '([^\\n])([^\\n]*)') do
      if code == '+' then each('ZREM', lineKey(okey), items) end
    end
    redis.call('HDEL', r.key, 'ds')
  end
  if #arrivals > 0 then redis.call('HDEL', DEFERRED, unpack(arrivals)) end
end

-- Changes of the set of lines (a counter bumped whenever a line is made or dropped). A request's 'lo'
-- lists, for every line there was when it was worked out, '+' and the offer key where the line holds the
-- request, or the skip reason's code (M, C, L) and the offer key where that offer counts it as skipped;
-- 'lb' is the counter's value then. While 'lb' is the counter's value, 'lo' is exactly right.
local function lineChanges()
  if not linesChanged then linesChanged = redis.call('GET', P .. 'lines-changed') or '0' end
  return linesChanged
end
local function lineChanged()
  takeDeferred(nil)
  linesChanged = tostring(redis.call('INCR', P .. 'lines-changed'))
  offerCache = nil
end
local REASON_CODE = { model = 'M', max_content_length = 'C', max_length = 'L' }
local CODE_REASON = { M = 'model', C = 'max_content_length', L = 'max_length' }

-- Brings the request's place in line in step with its waiting slots (PromptQueue.enqueue/drop): one
-- member per waiting slot, arrival .. ':' .. k for k = 0 .. waiting - 1, in the whole queue and (with its
-- deferred slots, above) in the line of every known offer that can serve it; the skip counters of the
-- others count it while it waits; its username's set holds it while it waits. deferLimit (a pop's take:
-- the deferral limit) lets a request start keeping deferred slots; one that keeps some already keeps
-- them whatever changes, until its last waiting slot goes. O(L x (d + log n)) for L offer lines and d
-- slots changed; O(log n) when the lines need no change.
local function setWaiting(r, new, deferLimit)
  local old = r.waiting
  if new == old then return end
  local adding = new > old
  local items = adding and slotMembers(r, old, new, true) or slotMembers(r, new, old, false)
  -- The skip counters count it while it waits: from its first waiting slot to its last.
  local skipped = (old == 0 and 1) or (new == 0 and -1) or 0
  each(adding and 'ZADD' or 'ZREM', WHOLE, items)
  -- A request that keeps deferred slots has 'lo' right (before any line is made or dropped, takeDeferred
  -- takes every deferred slot out), so most pops of a request of many generations read no counter (a GET).
  if r.ds > 0 or r.lb == lineChanges() then
    -- The lines unchanged since 'lo' was worked out: only the lines that hold the request and the offers
    -- that count it change; no offer is parsed or matched. They hold its waiting and deferred slots.
    local held, ds, command = old + r.ds, 0, nil
    if new > held then
      command, items = 'ZADD', slotMembers(r, held, new, true)
    elseif new > 0 and (r.ds > 0 or (deferLimit and deferLimit > 0)) then
      ds = held - new
    elseif new < held then
      command, items = 'ZREM', slotMembers(r, new, held, false)
    end
    if ds ~= r.ds then
      set(r, 'ds', dec(ds))
      if ds == 0 then
        redis.call('HDEL', DEFERRED, r.a)
      elseif redis.call('HSET', DEFERRED, r.a, dec(ds)) == 1 and redis.call('HLEN', DEFERRED) > deferLimit then
        takeDeferred(r.a)
      end
      r.ds = ds
    end
    if command or skipped ~= 0 then
      for code, okey in string.gmatch(r.lo, '([^\\n])([^\\n]*)') do
        if code == '+' then
          if command then each(command, lineKey(okey), items) end
        elseif skipped ~= 0 then redis.call('HINCRBY', skipKey(okey), CODE_REASON[code], dec(skipped)) end
      end
    end
  else
    -- (No deferred slots: any were taken out of the lines when the lines changed.)
    local command = adding and 'ZADD' or 'ZREM'
    local lo = {}
    for _, o in ipairs(offers()) do
      local reason = skipReason(r, o)
      if reason == nil then
        each(command, lineKey(o.key), items)
        lo[#lo + 1] = '+' .. o.key
      else
        if skipped ~= 0 then redis.call('HINCRBY', skipKey(o.key), reason, dec(skipped)) end
        lo[#lo + 1] = REASON_CODE[reason] .. o.key
      end
    end
    r.lo, r.lb = table.concat(lo, '\\n'), lineChanges()
    set(r, 'lo', r.lo)
    set(r, 'lb', r.lb)
  end
  if old == 0 then redis.call('ZADD', userKey(r.u), r.sc, userMember(r))
  elseif new == 0 then redis.call('ZREM', userKey(r.u), userMember(r)) end
  r.waiting = new
end

-- Activity: 'la', the request's last activity, and the activity set, the requests by a score that is at
-- most 'la' and lags it by less than ACTIVITY_LAG (equal scores in the order of the ids). The score moves
-- only when it would lag more (or 'la' went back: clocks of instances differ), so most pops and submits of
-- a request in use write 'la' alone; 'as' mirrors the score in the hash ('as' absent: a request stored by
-- an older build, whose score is 'la'). EXPIRE_IDLE corrects the scores it reads from 'la'.
local function touch(r, now)
  r.la = now
  set(r, 'la', now)
  if r.as then
    local lag = now - r.as
    if lag >= 0 and lag < ACTIVITY_LAG then return end
  end
  redis.call('ZADD', ACTIVITY, now, r.id)
  r.as = now
  set(r, 'as', now)
end

local function addCount(hash, field, change)
  if redis.call('HINCRBY', hash, field, dec(change)) <= 0 then redis.call('HDEL', hash, field) end
end

-- After a change (before flush): the unfinished counts, and when the request just became done, true, and a
-- PUBLISH if it was queued to be told (notifyWhenSettled: a held /generate/sync may wait on another instance).
local function settle(r, wasDone)
  local unfinished = not isDone(r)
  if unfinished ~= r.cnt then
    local change = unfinished and 1 or -1
    addCount(UNF_REQ, r.rk, change)
    addCount(UNF_USER, r.u, change)
    r.cnt = unfinished
    set(r, 'cnt', unfinished and '1' or '0')
  end
  if wasDone or unfinished then return false end
  if r.nf then redis.call('PUBLISH', CHANNEL, INSTANCE .. ' ' .. r.id) end
  return true
end

-- The texts and, in the same order, their authors (w<k>: '<server id>\\n<model>'): t<k> and w<k> side by
-- side, read by one HMGET per 2,000 texts (Lua's unpack limit is about 8,000; MAX_N goes to 10,000).
local function texts(r)
  local t, w = {}, {}
  for first = 1, r.nt, 2000 do
    local names = {}
    for k = first, math.min(first + 1999, r.nt) do
      names[#names + 1] = 't' .. dec(k)
      names[#names + 1] = 'w' .. dec(k)
    end
    local v = redis.call('HMGET', r.key, unpack(names))
    for i = 1, #v, 2 do
      t[#t + 1] = v[i]
      w[#w + 1] = v[i + 1] or '\\n'
    end
  end
  return t, w
end

local function record(r)
  local t, w = texts(r)
  return { r.id, r.u, r.rk, r.models, r.mlText, r.mclText, text(r.n), r.ca, r.la,
    r.waiting, r.pr, r.rs, r.cx and 1 or 0, t, w }
end

-- A generation's state from its slot's field: 'p<id>' in progress, 'f<id>' finished by it, finished by
-- another attempt: superseded (as in memory), anything else (waiting again, dropped, a redo): overdue.
local function genState(slotValue, genId)
  if slotValue == 'p' .. genId then return 'processing' end
  if slotValue == 'f' .. genId then return 'submitted' end
  if slotValue and string.sub(slotValue, 1, 1) == 'f' then return 'superseded' end
  return 'overdue'
end

-- The attempt in progress on the slot stops (it missed its deadline, or its server gave it up): the
-- slot goes back to waiting, served first (or is dropped when the request was cancelled); counted in
-- restarted either way. The caller has checked the slot's field is 'p' .. that attempt, and flushes r.
-- The attempt then reads overdue (its slot's field is no longer its own). True when put back.
local function putBack(r, slot)
  local slotField = 's' .. slot
  r.pr = r.pr - 1
  r.rs = r.rs + 1
  set(r, 'pr', dec(r.pr))
  set(r, 'rs', dec(r.rs))
  if r.cx then
    set(r, slotField, 'd')
    return false
  end
  set(r, slotField, 'w')
  redis.call('RPUSH', r.key .. ':putback', slot)
  r.pb = r.pb + 1
  set(r, 'pb', dec(r.pb))
  setWaiting(r, r.waiting + 1)
  return true
end
`;


/**
 * Lua: a pop's take, `takeSlot(o, serverId, genId, now, deadlineRule, lineLimit, bound, priorities)` for the
 * offer o = {key, model, ml, mcl}: makes the offer's line when it has none (O(N), from the whole queue;
 * past the line limit the least recently popped line goes first); then O(U × S + L × log N) for U priority
 * usernames (the list `priorities`) scanned up to S (`bound`) requests each and L lines. `deadlineRule()`
 * answers {minMs, msPerToken, maxMs}, asked only when a slot is started. Answers {'started', generationId,
 * requestId, deadline, prompt, params, models, maxLength, maxContentLength} or {'skipped', model,
 * max_content_length, max_length}.
 */
const TAKE_SLOT_LUA = `
local function takeSlot(o, serverId, genId, now, deadlineRule, lineLimit, bound, deferLimit, priorities)
  local line, skip = lineKey(o.key), skipKey(o.key)
  if redis.call('ZADD', OFFERS, now, o.key) == 1 then
    -- A new line. Past the limit, the least recently popped other line goes.
    if redis.call('ZCARD', OFFERS) > lineLimit then
      local two = redis.call('ZRANGE', OFFERS, 0, 1)
      local oldest = two[1] ~= o.key and two[1] or two[2]
      redis.call('DEL', lineKey(oldest), skipKey(oldest))
      redis.call('ZREM', OFFERS, oldest)
      lineChanged()
    end
    -- Read once from the whole queue (already in serving order; a request's slots side by side), a chunk
    -- at a time, the wishes of a chunk's requests in one HMGET of 'ids'.
    redis.call('DEL', line, skip)
    local counts = { model = 0, max_content_length = 0, max_length = 0 }
    local total, previousLast = redis.call('ZCARD', WHOLE), nil
    for start = 0, total - 1, 2000 do
      -- Members only (no WITHSCORES: formatting 2,000 doubles costs more than the rest); a request's score is in its entry.
      local chunk = redis.call('ZRANGE', WHOLE, start, start + 1999)
      local arrivals, firstOf = {}, {}
      local last
      for i = 1, #chunk do
        local a = string.sub(chunk[i], 1, 16)
        if a ~= last then
          last = a
          arrivals[#arrivals + 1] = a
          firstOf[#arrivals] = i
        end
      end
      firstOf[#arrivals + 1] = #chunk + 1
      local entries = redis.call('HMGET', IDS, unpack(arrivals))
      local batch = {}
      for k, entry in ipairs(entries) do
        local w = wishesOfEntry(entry)
        local reason = skipReason(w, o)
        if reason == nil then
          for i = firstOf[k], firstOf[k + 1] - 1 do
            batch[#batch + 1] = w.sc
            batch[#batch + 1] = chunk[i]
          end
        -- (a request whose slots straddle two chunks is counted in the first)
        elseif k > 1 or arrivals[1] ~= previousLast then
          counts[reason] = counts[reason] + 1
        end
      end
      if #batch > 0 then each('ZADD', line, batch) end
      previousLast = last
    end
    redis.call('HSET', skip, 'model', counts.model, 'max_content_length', counts.max_content_length, 'max_length', counts.max_length)
    -- Every request's remembered lines ('lo') now miss this one: the next change of each works them out again.
    lineChanged()
  end

  -- The priority usernames' best servable requests (each username's set is in serving order, its members
  -- carry the wishes; at most the scan bound of its first requests are looked at), before the offer's line.
  local bestScore, bestA, bestId, bestMl, bestMcl, bestMset
  for _, username in ipairs(priorities) do
    local candidates = redis.call('ZRANGE', userKey(username), '0', dec(bound - 1), 'WITHSCORES')
    for j = 1, #candidates, 2 do
      local a, id, ml, mcl, mset = string.match(candidates[j], '^([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n(.*)$')
      local score = tonumber(candidates[j + 1])
      if bestA and (score > bestScore or (score == bestScore and a > bestA)) then break end
      if skipReason({ mset = mset, ml = int(ml), mcl = int(mcl) }, o) == nil then
        bestScore, bestA, bestId, bestMl, bestMcl, bestMset = score, a, id, ml, mcl, mset
        break
      end
    end
  end
  if not bestId then
    local first = redis.call('ZRANGE', line, '0', '0')[1]
    if not first then
      local c = redis.call('HMGET', skip, 'model', 'max_content_length', 'max_length')
      return { 'skipped', int(c[1] or '0'), int(c[2] or '0'), int(c[3] or '0') }
    end
    bestA = string.sub(first, 1, 16)
    bestId, bestMl, bestMcl, bestMset = string.match(redis.call('HGET', IDS, bestA), '^([^\\n]*)\\n[^\\n]*\\n([^\\n]*)\\n([^\\n]*)\\n(.*)$')
  end

  local r, prompt, params, gens = loadToTake(bestId, bestA, bestMl, bestMcl, bestMset)
  local slot
  if r.pb > 0 then
    slot = int(redis.call('LPOP', r.key .. ':putback'))
    r.pb = r.pb - 1
    set(r, 'pb', dec(r.pb))
  else
    slot = r.n - r.un
    r.un = r.un - 1
    set(r, 'un', dec(r.un))
  end
  r.pr = r.pr + 1
  set(r, 'pr', dec(r.pr))
  set(r, 's' .. dec(slot), 'p' .. genId)
  set(r, 'g', (gens or '') == '' and genId or (gens .. ' ' .. genId))
  setWaiting(r, r.waiting - 1, deferLimit)
  touch(r, now)
  flush(r)
  local rule = deadlineRule()
  local wait = r.ml * rule.msPerToken
  if wait < rule.minMs then wait = rule.minMs end
  if wait > rule.maxMs then wait = rule.maxMs end
  -- deadlineOf: a whole number of milliseconds, rounded up.
  local deadline = num(tonumber(now) + math.ceil(wait))
  redis.call('HSET', genKey(genId), 'rid', r.id, 'sid', serverId, 'm', o.model, 'slot', dec(slot), 'st', now, 'dl', deadline)
  redis.call('ZADD', DEADLINES, deadline, genId)
  return { 'started', genId, r.id, deadline, prompt, params, r.models, r.mlText, r.mclText }
end
`;

/**
 * Lua: the deadline rule of the pop being made (POP below sets popServer, popJobTokens and popJobMs, the
 * server's key and job sums, popSettings, and popRule to nil), for takeSlot: worked out when a slot is started, once
 * per call. Not a closure made by each pop: that cost a closure and its upvalues per call.
 */
const POP_DEADLINE_LUA = `
-- The pop's answer: the list, then the server before its check-in (provenCheckIn's) at its end; one flat
-- list, since Redis converts each table of an answer with a look-up of each of its special fields (err,
-- ok, double, ...).
local function withServer(answer, before)
  local n = #answer
  for i = 1, #before do answer[n + i] = before[i] end
  return answer
end
local popServer, popJobTokens, popJobMs, popSettings, popRule
local function popDeadlineRule()
  if popRule then return popRule end
  -- tokensPerSecond (speedOf the sums of the recent jobs' tokens and whole milliseconds), then deadlineRuleFor.
  if not popJobMs then popJobTokens, popJobMs = recountJobs(popServer, popServer .. SERVER_JOBS_SUFFIX) end
  local msPerToken, ms = 0, whole(popJobMs)
  if ms > 0 then
    local speed = whole(popJobTokens) * 1000 / ms
    if speed ~= 0 then msPerToken = popSettings.safety / speed end
  end
  popRule = { minMs = popSettings.minMs, msPerToken = msPerToken, maxMs = popSettings.maxMs }
  return popRule
end
`;

/** The generation store's functions: one library (see LuaLibrary), its shared code loaded once per Redis. */
const LIBRARY = new LuaLibrary('kcgen', FUNCTION_KEYS.length, PRELUDE + PROVEN_CHECK_IN_LUA + RECORD_JOB_LUA + TAKE_SLOT_LUA + POP_DEADLINE_LUA);

function defineFunction(name: string, lua: string): LuaFunction {
  return LIBRARY.define(name, `begin()\n${lua}`);
}

/**
 * ARGV: id, username, requesterKey, models (JSON), mset, maxLength, maxContentLength, n, score (−priority),
 * now, prompt, params (JSON), cap, notify when settled (1/0). The per-requester cap is checked and the request queued in one step.
 * O(L × (n + log N)). Answers 'queued' or 'over-limit'.
 */
export const ENQUEUE = defineFunction(
  'kcGenEnqueue',
  `
local id, rk, now = ARGV[2], ARGV[4], ARGV[11]
if tonumber(redis.call('HGET', UNF_REQ, rk) or '0') >= tonumber(ARGV[14]) then return 'over-limit' end
local key = reqKey(id)
if redis.call('EXISTS', key) == 1 then return redis.error_reply('ERR request ' .. id .. ' exists already') end
local a = string.format('%016d', redis.call('INCR', SEQ))
local n = tonumber(ARGV[9])
local r = { id = id, key = key, u = ARGV[3], rk = rk, models = ARGV[5], mset = ARGV[6], ml = tonumber(ARGV[7]), mcl = tonumber(ARGV[8]), mlText = ARGV[7], mclText = ARGV[8],
  n = n, sc = ARGV[10], a = a, ca = now, la = now, un = n, pb = 0, pr = 0, rs = 0, cx = false, cnt = false, nt = 0, lo = '', lb = '', ds = 0, nf = ARGV[15] == '1',
  waiting = 0, w = {} }
r.w = { 'u', r.u, 'rk', rk, 'models', r.models, 'mset', r.mset, 'ml', ARGV[7], 'mcl', ARGV[8], 'n', ARGV[9], 'sc', r.sc, 'a', a, 'ca', now,
  'un', ARGV[9], 'pb', '0', 'pr', '0', 'rs', '0', 'cx', '0', 'nt', '0', 'g', '', 'prompt', ARGV[12], 'params', ARGV[13], 'nf', ARGV[15] }
redis.call('HSET', IDS, a, id .. '\\n' .. r.sc .. '\\n' .. r.mlText .. '\\n' .. r.mclText .. '\\n' .. r.mset)
setWaiting(r, n)
touch(r, now)
settle(r, true)
flush(r)
return 'queued'`,
);

/**
 * A pop. ARGV: offer key, model, maxLength, maxContentLength, serverId, generationId, now, minMs, msPerToken,
 * maxMs, line limit, priority scan bound, deferral limit, then the priority usernames. See TAKE_SLOT_LUA.
 */
export const TAKE_NEXT_SLOT = defineFunction(
  'kcGenTakeNextSlot',
  `
local rule = { minMs = tonumber(ARGV[9]), msPerToken = tonumber(ARGV[10]), maxMs = tonumber(ARGV[11]) }
local priorities = {}
for i = 15, #ARGV do priorities[#priorities + 1] = ARGV[i] end
return takeSlot({ key = ARGV[2], model = ARGV[3], ml = tonumber(ARGV[4]), mcl = tonumber(ARGV[5]) }, ARGV[6], ARGV[7], ARGV[8],
  function() return rule end, tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14]), priorities)`,
);

/**
 * The pop of a server whose password this instance proved: its check-in (PROVEN_CHECK_IN_LUA) and the take
 * of each of its offers in turn (TAKE_SLOT_LUA) until one starts a slot, in one step. ARGV (after the
 * instance id): the server's name, its id as an earlier pop answered it ('' for none: a hint, see
 * PROVEN_CHECK_IN_LUA), the proven password hash, lastSeenAt, its score in the seen sets (seenScore), owner,
 * maxLength, maxContentLength, generationId, the settings
 * as one text ('<the deadline's safety factor × 1000> <minMs> <maxMs> <line limit> <priority scan bound> <deferral limit>', see
 * `settings`), the number of offers, then per offer its key and model
 * (the first is the one it is checked in with), then the priority usernames besides the owner. The
 * deadline rule follows the server's measured speed over its recent jobs, from the sums its hash keeps
 * (speedOf, deadlineRuleFor and deadlineOf in TypeScript, the same arithmetic in the same order). Answers false when the hash is
 * not the password hash of a server of that name (nothing changed); otherwise one flat list, ending with the
 * server before the check-in (as provenCheckIn answers it: 3 or 7 values): {'maintenance', server...} (checked
 * in, nothing taken), {TAKE_SLOT_LUA's answer ('started' and 8 values), the model of the offer that took it,
 * server...} or {'skipped', the 3 counts of the first offer, of the second, ..., server...}.
 */
export const POP = defineFunction(
  'kcGenPop',
  `
local now, owner, maxLength, maxContentLength = ARGV[5], ARGV[7], ARGV[8], ARGV[9]
local offerCount = int(ARGV[12])
local server, before, jobTokens, jobMs = provenCheckIn(SERVERS_BY_NAME, SERVERS_SEEN, UNUSED, SERVER_PREFIX, ARGV[2], ARGV[3], ARGV[4], now, ARGV[6], owner, ARGV[14], maxLength, maxContentLength)
if not server then return false end
if before[3] == '1' then return withServer({ 'maintenance' }, before) end
local config = settings(ARGV[11])
popServer, popJobTokens, popJobMs, popSettings, popRule = server, jobTokens, jobMs, config, nil
local priorities = { owner }
for i = 13 + 2 * offerCount, #ARGV do priorities[#priorities + 1] = ARGV[i] end
local answer
for k = 1, offerCount do
  local o = { key = ARGV[11 + 2 * k], model = ARGV[12 + 2 * k], ml = int(maxLength), mcl = int(maxContentLength) }
  local taken = takeSlot(o, before[1], ARGV[10], now, popDeadlineRule, config.lineLimit, config.bound, config.deferLimit, priorities)
  if taken[1] == 'started' then
    taken[10] = o.model
    return withServer(taken, before)
  end
  answer = answer or { 'skipped' }
  answer[3 * k - 1], answer[3 * k], answer[3 * k + 1] = taken[2], taken[3], taken[4]
end
return withServer(answer or { 'skipped' }, before)`,
);

/**
 * A submit. ARGV (after the instance id): generationId, text, now, tokens, the proven server ids (joined
 * by and wrapped in "\n"). Refuses ({'unproven', server id}) unless
 * the generation's server is among the proven ids and exists; reads its owner; takes the text and credits
 * the requester's usage, the owner's contribution and the server's job (RECORD_JOB_LUA) in the same step.
 * O(1) (plus the length of the proven ids), or O(L × log N) when a late text takes a put-back slot out of
 * line. Answers {'accepted', request id, createdAt, cancelled (1/0), done (1/0), became done (1/0)} (no
 * texts: a submit costs the same whatever n; one flat list; not the generation, which the service does
 * not need: findGeneration reads it), {'unproven', server id} or {refusal}.
 */
export const SUBMIT = defineFunction(
  'kcGenSubmit',
  `
local genId, now, tokens = ARGV[2], ARGV[4], ARGV[5]
local g = redis.call('HMGET', genKey(genId), 'rid', 'sid', 'slot', 'st', 'm')
if not g[1] then return { 'unknown' } end
local slotField = 's' .. g[3]
local r, slotValue = loadToSubmit(g[1], slotField)
if not r then return { 'unknown' } end
-- The submitter proved to be the generation's server, which still exists: its owner now is credited.
local server, owner, sumsKept = SERVER_PREFIX .. g[2], false, false
if string.find(ARGV[6], '\\n' .. g[2] .. '\\n', 1, true) then
  local v = redis.call('HMGET', server, 'owner', 'jobMs')
  owner, sumsKept = v[1], v[2] ~= false
end
if not owner then return { 'unproven', g[2] } end
slotValue = slotValue or ''
-- genState, with the slot's field read once: finished by this attempt (submitted) or another (superseded)
-- refuses; in progress (this attempt or a redo) or overdue takes the text.
local finished, first = 'f' .. genId, string.sub(slotValue, 1, 1)
if first == 'f' then return { slotValue == finished and 'already-submitted' or 'slot-complete' } end
local wasDone = isDone(r)
if first == 'p' then
  -- In progress: this attempt, or the redo of a slot whose late text this is (the redo is then superseded).
  r.pr = r.pr - 1
  set(r, 'pr', dec(r.pr))
  redis.call('ZREM', DEADLINES, string.sub(slotValue, 2))
elseif slotValue == 'w' then
  redis.call('LREM', r.key .. ':putback', 1, g[3])
  r.pb = r.pb - 1
  set(r, 'pb', dec(r.pb))
  loadLineFields(r)
  setWaiting(r, r.waiting - 1)
end
-- A dropped slot (request cancelled after a missed deadline) still takes the text: the work was done.
set(r, slotField, finished)
r.nt = r.nt + 1
local nt = dec(r.nt)
set(r, 'nt', nt)
set(r, 't' .. nt, ARGV[3])
-- Its author beside it: the server id (a UUID), a newline, the model of the offer it was popped with.
set(r, 'w' .. nt, g[2] .. '\\n' .. (g[5] or ''))
touch(r, now)
redis.call('HINCRBY', USAGE, r.u, tokens)
redis.call('HINCRBY', CONTRIBUTIONS, owner, tokens)
-- The job's time: at least a millisecond; its text as JavaScript writes the number of seconds. (The
-- subtraction converts both decimals, once each.)
local ms = now - g[4]
if ms < 1 then ms = 1 end
local seconds = ms / 1000
addJob(server, server .. SERVER_JOBS_SUFFIX, UNUSED, g[2], tokens, seconds, tokens .. ' ' .. (secondsText(ms) or num(seconds)), PERFORMANCE_WINDOW, sumsKept)
local settled = settle(r, wasDone)
flush(r)
return { 'accepted', r.id, r.ca, r.cx and 1 or 0, isDone(r) and 1 or 0, settled and 1 or 0 }`,
);

/**
 * A give-up (the v2 API's faulted submit). ARGV: generationId, now. When the attempt is still the one in
 * progress on its slot (the slot's field is 'p' .. it), the slot goes back to waiting (or is dropped, the
 * request cancelled) as after a missed deadline (putBack), and the attempt leaves the deadlines; it then
 * reads overdue, so a late text of it is still taken. Nothing is credited. O(L × log N). Answers
 * {'put-back' or 'dropped', request, became done (1/0)} or {'unknown' | 'already-submitted' | 'not-in-progress'}.
 */
export const ABANDON = defineFunction(
  'kcGenAbandon',
  `
local genId, now = ARGV[2], ARGV[3]
local g = redis.call('HMGET', genKey(genId), 'rid', 'slot')
if not g[1] then return { 'unknown' } end
local r, slotValue, as = load(g[1], 's' .. g[2], 'as')
if not r then return { 'unknown' } end
r.as = as
local state = genState(slotValue, genId)
if state == 'submitted' then return { 'already-submitted' } end
if state ~= 'processing' then return { 'not-in-progress' } end
redis.call('ZREM', DEADLINES, genId)
local outcome = putBack(r, g[2]) and 'put-back' or 'dropped'
touch(r, now)
local settled = settle(r, false)
flush(r)
return { outcome, record(r), settled and 1 or 0 }`,
);

/** A cancel. ARGV: id, now. Drops the waiting slots (put-back ones too). O(L × log N). Answers {request, settled} or false. */
export const CANCEL = defineFunction(
  'kcGenCancel',
  `
local r, as = load(ARGV[2], 'as')
if not r then return false end
r.as = as
local wasDone = isDone(r)
r.cx = true
set(r, 'cx', '1')
if r.pb > 0 then
  for _, slot in ipairs(redis.call('LRANGE', r.key .. ':putback', 0, -1)) do set(r, 's' .. slot, 'd') end
  redis.call('DEL', r.key .. ':putback')
  r.pb = 0
  set(r, 'pb', 0)
end
r.un = 0
set(r, 'un', 0)
setWaiting(r, 0)
touch(r, ARGV[3])
local settled = settle(r, wasDone)
flush(r)
return { record(r), settled and 1 or 0 }`,
);

/**
 * ARGV: now, batch. Puts back (or, cancelled, drops) the slots of at most `batch` processing generations
 * whose deadline is at or before now, each at most once (taken out of the deadlines set in the same step).
 * O(B × L × log N). Answers {slots put back, generations read, ids of requests that became done}.
 */
export const RESTART_OVERDUE = defineFunction(
  'kcGenRestartOverdue',
  `
local due = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
if #due == 0 then return { 0, 0, {} } end
redis.call('ZREM', DEADLINES, unpack(due))
local restarted, settled = 0, {}
for _, genId in ipairs(due) do
  local g = redis.call('HMGET', genKey(genId), 'rid', 'slot')
  if g[1] then
    local slotField = 's' .. g[2]
    local r, slotValue = load(g[1], slotField)
    if r and slotValue == 'p' .. genId then
      local wasDone = isDone(r)
      if putBack(r, g[2]) then restarted = restarted + 1 end
      if settle(r, wasDone) then settled[#settled + 1] = r.id end
      flush(r)
    end
  end
end
return { restarted, #due, settled }`,
);

/**
 * ARGV: cutoff, limit. Deletes at most `limit` requests idle since cutoff (last activity 'la' at or before
 * it), the longest idle first, with their generations, texts, prompt and params; each is taken out of the
 * activity set in the same step, so only one instance deletes (and reports) it. The activity set's scores
 * lag 'la' (see touch): the candidates are read in score order, and a candidate whose 'la' is later than
 * its score gets 'la' as its score (and no later candidate is taken before the set is read again), so the
 * order is exactly that of 'la'. At most 8 × limit candidates are read per call. O(limit × (L × log N + G))
 * for G generations each. Answers {more (1: the read bound was reached; call again), id, done (1/0), ...}.
 */
export const EXPIRE_IDLE = defineFunction(
  'kcGenExpireIdle',
  `
local cutoff, limit = ARGV[2], tonumber(ARGV[3])
local idle, reads, more = {}, 0, 0
while #idle < limit do
  if reads >= 8 * limit then
    more = 1
    break
  end
  local want = limit - #idle
  local found = redis.call('ZRANGEBYSCORE', ACTIVITY, '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, want)
  -- bound: the earliest corrected score; a candidate from there on may come after it, so the set is read again.
  local bound
  for i = 1, #found, 2 do
    local id, score = found[i], tonumber(found[i + 1])
    if bound and score >= bound then break end
    reads = reads + 1
    local la = redis.call('HGET', reqKey(id), 'la')
    local at = la and tonumber(la)
    if at and at ~= score then
      redis.call('ZADD', ACTIVITY, la, id)
      redis.call('HSET', reqKey(id), 'as', la)
      if not bound or at < bound then bound = at end
    else
      idle[#idle + 1] = id
      redis.call('ZREM', ACTIVITY, id)
    end
  end
  if not bound and #found < 2 * want then break end
end
local out = { more }
for _, id in ipairs(idle) do
  local r, generations = load(id, 'g')
  if r then
    local done = isDone(r)
    setWaiting(r, 0)
    if r.cnt then
      addCount(UNF_REQ, r.rk, -1)
      addCount(UNF_USER, r.u, -1)
    end
    local gens = {}
    for genId in string.gmatch(generations or '', '%S+') do gens[#gens + 1] = genId end
    if #gens > 0 then
      redis.call('ZREM', DEADLINES, unpack(gens))
      for k = 1, #gens do gens[k] = genKey(gens[k]) end
      redis.call('DEL', unpack(gens))
    end
    redis.call('DEL', r.key, r.key .. ':putback')
    redis.call('HDEL', IDS, r.a)
    if r.nf then redis.call('PUBLISH', CHANNEL, INSTANCE .. ' ' .. r.id) end
    out[#out + 1] = r.id
    out[#out + 1] = done and 1 or 0
  end
end
return out`,
);

/** ARGV: id. The generation, or false. O(1). */
export const FIND_GENERATION = defineFunction(
  'kcGenFindGeneration',
  `
local g = redis.call('HMGET', genKey(ARGV[2]), 'rid', 'sid', 'slot', 'st', 'dl')
if not g[1] then return false end
return { ARGV[2], g[1], g[2], g[4], g[5], genState(redis.call('HGET', reqKey(g[1]), 's' .. g[3]), ARGV[2]) }`,
);

/** ARGV: id. The request (without prompt and params) and its texts, or false. O(1) + its texts. */
export const FIND_REQUEST = defineFunction(
  'kcGenFindRequest',
  `
local r = load(ARGV[2])
if not r then return false end
return record(r)`,
);

/**
 * ARGV: id, then per offer its key, model, maxLength, maxContentLength. The request and, per offer, its
 * rank in that offer's line (ZRANK of its first member: one member per waiting or deferred slot), −1 where
 * the offer cannot serve it or has no line (a servable waiting request is in every line there is for it,
 * so no rank means no line); the whole queue's figure when no offer ranks it (−1 otherwise); its score and
 * arrival; and, when a rank is above 0, the other requests that keep deferred slots (deferredRequests),
 * which the instance takes off the ranks of the requests ahead (deferredSlotsAhead). O(K × log N + D) for
 * K offers and D requests with deferred slots (at most the deferral limit). Answers {request, ranks,
 * position, score, arrival, deferred} or false.
 */
export const FIND_STANDING = defineFunction(
  'kcGenFindStanding',
  `
local r = load(ARGV[2])
if not r then return false end
local ranks, ranked, anyRank = {}, false, false
local first = r.a .. ':0'
for i = 3, #ARGV, 4 do
  local v = -1
  if r.waiting > 0 then
    local o = { model = ARGV[i + 1], ml = int(ARGV[i + 2]), mcl = int(ARGV[i + 3]) }
    if skipReason(r, o) == nil then v = redis.call('ZRANK', lineKey(ARGV[i]), first) or -1 end
    if v >= 0 then anyRank = true end
    if v > 0 then ranked = true end
  end
  ranks[#ranks + 1] = v
end
-- The position: the instance's (the fewest ahead), unless no offer ranks it: then the whole queue's.
local position = -1
if not anyRank then
  position = 0
  if r.waiting > 0 then position = redis.call('ZRANK', WHOLE, first) or 0 end
end
-- The requests but r that keep deferred slots: each is in every line (there is) of an offer that can serve
-- it, as 'lo' is right for it; the instance takes the slots of those served before r off r's ranks
-- (deferredSlotsAhead: matching them cost Lua more than the rest of the read).
local deferred = {}
if ranked then deferred = deferredRequests(r.a) end
return { record(r), ranks, position, r.sc, r.a, deferred }`,
);

/** ARGV: the offer keys of the active servers. Drops the lines (and skip counters) of every other offer. O(L). */
export const RETAIN_OFFERS = defineFunction(
  'kcGenRetainOffers',
  `
local keep = {}
for i = 2, #ARGV do keep[ARGV[i]] = true end
for _, okey in ipairs(redis.call('ZRANGE', OFFERS, '0', '-1')) do
  if not keep[okey] then
    redis.call('DEL', lineKey(okey), skipKey(okey))
    redis.call('ZREM', OFFERS, okey)
    lineChanged()
  end
end
return 0`,
);
