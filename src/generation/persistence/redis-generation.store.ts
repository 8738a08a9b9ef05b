import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { LuaFunction, RedisConnection } from '../../common/redis/redis-connection';
import { DEFAULT_QUEUE_LIMITS, offerKey, ServerOffer, SkippedCounts } from '../domain/prompt-queue';
import { GenerationAuthor } from '../domain/waiting-prompt';
import {
  AbandonOutcome,
  ExpiredRequest,
  GenerationRecord,
  GenerationStore,
  NewRequest,
  QueueSummary,
  RequestRecord,
  RequestStandingRecord,
  ServerBeforeCheckIn,
  ServerPop,
  ServerPopOutcome,
  SlotTake,
  StartedGeneration,
  Submission,
  SubmitOutcome,
} from './generation.store';
import { seenScore } from '../../servers/persistence/redis-server.repository';
import { addToSummary, emptyQueueSummary } from './queue-summary';
import {
  ABANDON,
  CANCEL,
  ENQUEUE,
  EXPIRE_IDLE,
  FIND_GENERATION,
  FIND_REQUEST,
  FIND_STANDING,
  FUNCTION_KEYS,
  GENERATION_KEY_PREFIX,
  SETTLED_CHANNEL,
  POP,
  RESTART_OVERDUE,
  RETAIN_OFFERS,
  SUBMIT,
  TAKE_NEXT_SLOT,
} from './redis/generation-scripts';

/** Limits of the Redis matching state (see RedisGenerationStore). */
export interface RedisGenerationStoreLimits {
  /** Offer lines kept at most; past it, the least recently popped line is dropped. */
  maxOfferLines: number;
  /** A pop looks at most this many of each priority username's waiting requests (in serving order). */
  priorityScan: number;
  /** Overdue generations put back, and idle requests expired, per script (the callers loop). */
  batch: number;
  /** Requests that keep deferred slots at most (PromptQueue's deferredCounts; 0: none). */
  deferredCounts: number;
  /** Server names whose id the store remembers at most (see popFor); past it, the one remembered first is forgotten. */
  serverIdHints: number;
}

export const DEFAULT_REDIS_GENERATION_LIMITS: RedisGenerationStoreLimits = {
  maxOfferLines: DEFAULT_QUEUE_LIMITS.maxOfferLines,
  priorityScan: DEFAULT_QUEUE_LIMITS.heavyRequester,
  batch: 500,
  deferredCounts: DEFAULT_QUEUE_LIMITS.deferredCounts,
  serverIdHints: 10_000,
};

/** A started slot as the scripts answer it: {'started', generationId, requestId, deadline, prompt, params, models, maxLength, maxContentLength}. */
type StoredStarted = ['started', string, string, string, string, string, string, string, string];
/**
 * The popping server before its check-in, as the pop script answers it (provenCheckIn of PROVEN_CHECK_IN_LUA):
 * id, lastSeenAt, maintenance, then owner, model, maxLength, maxContentLength only when any of them is not
 * the value the pop sent (otherwise they are those values).
 */
type StoredServerBefore = [string, string, string | null] | [string, string, string | null, string, string, string, string];

/** A request as the scripts answer it (see `record` in the scripts' prelude). */
type StoredRequest = [string, string, string, string, string, string, string, string, string, number, number, number, number, string[], string[]];
type StoredGeneration = [string, string, string, string, string, string];

/**
 * A request's ranks in the lines of `offers` (−1: none) less the deferred slots of the requests served
 * before it (score, then arrival) in each line: `deferred` is FIND_STANDING's {arrival, deferred slots,
 * 'ids' entry (`<id>\n<score>\n<max_length>\n<max_content_length>\n<mset>`), ...}, and each such request
 * is in the line of every offer that can serve it (skipReason's test). Done here rather than in Lua, where
 * matching each of up to 64 requests against each of up to 64 offers cost Redis more than the rest of the read.
 */
export function deferredSlotsAhead(ranks: readonly number[], offers: readonly ServerOffer[], score: number, arrival: string, deferred: readonly string[]): number[] {
  const ahead = [...ranks];
  for (let i = 0; i + 2 < deferred.length; i += 3) {
    const [otherArrival, slots, entry] = [deferred[i], Number(deferred[i + 1]), deferred[i + 2]];
    const fields = entry.split('\n', 4);
    const otherScore = Number(fields[1]);
    if (!(otherScore < score || (otherScore === score && otherArrival < arrival))) continue;
    const maxLength = Number(fields[2]);
    const maxContentLength = Number(fields[3]);
    const mset = entry.slice(fields[0].length + fields[1].length + fields[2].length + fields[3].length + 4);
    offers.forEach((offer, k) => {
      if (ahead[k] > 0 && maxLength <= offer.maxLength && maxContentLength <= offer.maxContentLength && (mset === '' || mset.includes(`\n${offer.model}\n`))) ahead[k] -= slots;
    });
  }
  return ahead;
}

/**
 * The requests in flight in Redis, shared by every instance. All keys are under the `{kc}` hash tag (one
 * Redis Cluster slot), below `{kc}:gen:`:
 *
 * - `req:<id>` (hash): the request — username `u`, requester key `rk`, wished `models` (JSON) and `mset`
 *   (the same names "\n"-joined, for matching), `ml`/`mcl` (max_length, max_content_length), `n`, `sc`
 *   (its score: −priority), `a` (its arrival, 16 zero-padded digits of the `seq` counter), `ca`/`la`
 *   (created, last activity), `as` (its score in `activity`, below), `un` (untouched slots), `pb` (slots put back), `pr` (processing), `rs`
 *   (restarted), `cx` (cancelled), `cnt` (counted as unfinished), `nt` and `t1`..`t<nt>` (the texts, in
 *   order of arrival) with `w1`..`w<nt>` beside them (who made each: `<server id>\n<model>`, written by the
 *   submit that writes the text), `s<slot>` (each started slot: `p<generation>` in progress, `w` waiting
 *   again, `f<generation>` finished by that attempt, `d` dropped), `g` (its generations' ids), `ds` (its
 *   deferred slots, below; absent or 0 when none), `prompt`, `params` (JSON). Beside it `req:<id>:putback` (list: the put-back slots, served first). Both are
 *   deleted when the request expires: its prompt and texts live in Redis only while the request does.
 * - `g:<generation id>` (hash, written once by the pop): request `rid`, server `sid`, the model `m` of the
 *   offer it was popped with, `slot`, started `st`, deadline `dl`. Its state is read from its slot's field
 *   (`p<id>` processing, `f<id>` submitted, `f<other>` superseded, otherwise overdue), so no later script
 *   has to find and update it: a missed deadline and a give-up (abandon) both turn the slot's field to `w`
 *   (or `d`), and the attempt reads overdue from then on.
 * - `seq` (counter): the global arrival order, the tie-breaker.
 * - `ids` (hash): arrival → `<id>\n<score>\n<max_length>\n<max_content_length>\n<mset>`: a pop finds the request of
 *   a line's first member, and a new line is made from the whole queue with the wishes of 2,000 members
 *   read by one HMGET.
 * - `whole` (sorted set): the whole queue in serving order, one member per waiting slot,
 *   `<arrival>:<k>` for k = 0 .. waiting − 1, score −priority. Scores are doubles and priorities are
 *   doubles: −priority is stored exactly (sent as JavaScript's round-trip decimal), so the score gives
 *   "higher priority first" exactly, and between equal scores Redis orders members lexicographically,
 *   which for the fixed-width arrival is "older first"; a request's slot members share the arrival
 *   prefix, so they stand side by side. A ZRANK therefore counts the waiting slots ahead.
 * - `offers` (sorted set): the offers that have a line (`model|max_length|max_content_length`, as
 *   offerKey), scored by the time of their last pop; at most `maxOfferLines` (64).
 * - `line:<offer>` (sorted set): the members of `whole` that this offer can serve, same scores, and each
 *   such request's deferred slots: a pop that takes a request's slot but not its last takes the slot's
 *   member out of `whole` only, and its lines keep it (the request's `ds` counts them) until its last
 *   waiting slot goes, more than `deferredCounts` (64) requests keep some, or a line is made or dropped
 *   (PromptQueue's deferred counts: a Horde-shaped request is in up to 40 lines, a ZREM each). A line's
 *   first member is still a waiting slot, so the order is unchanged; a status read takes the deferred
 *   slots of the requests ahead off its ranks. And `skip:<offer>` (hash): the waiting requests it cannot
 *   serve, by first reason (model, max_content_length, max_length). Kept in step by every change of a
 *   request's waiting slots.
 * - `deferred` (hash): arrival → deferred slots, of the requests that keep some (at most `deferredCounts`).
 * - `user:<username>` (sorted set): the username's waiting requests, same score, member
 *   `<arrival>\n<id>\n<max_length>\n<max_content_length>\n<mset>`: a pop checks its priority
 *   usernames' requests without reading them.
 * - `deadlines` (sorted set): generations in progress by deadline; `activity` (sorted set): request ids
 *   by a score at most their last activity `la` that lags it by less than ACTIVITY_INDEX_LAG_MS (60 s;
 *   equal scores in the order of the ids): a pop or submit within that time of the score's last write
 *   writes `la` alone. The expiry reads `la` and corrects the scores it reads, so it stays exact.
 * - `unfinished:requester`, `unfinished:username` (hashes): unfinished requests per requester key and
 *   per username (fields deleted at 0).
 *
 * Costs, for N waiting slots, L offer lines (≤ 64), n a request's slots, D requests with deferred slots
 * (≤ `deferredCounts`): enqueue O(L × (n + log N)); pop O(P × S + log N) for P priority usernames
 * scanned up to S (`priorityScan`, 64) requests each, whatever the requests want, plus O(L × log N) when
 * it takes a request's last slot (and, past the deferral limit, O(D × L × log N) once per D pops; once
 * per new offer, O(N) to build its line from `whole`); submit, cancel and abandon O(L × log N); status
 * read O(K × log N + D) in Redis (and O(K × D) in the instance) for K offers asked. A priority username's requests past
 * the first `priorityScan` in serving order are not looked at by a pop (the in-memory queue gives a heavy
 * requester lines of its own instead): only a username with more waiting requests than that, the first
 * 64 of which the server cannot serve, is served in the ordinary order. Memory per waiting slot: one
 * member in `whole` and in each line of an offer that can serve it (a deferred slot: in the lines only).
 *
 * onSettled: the scripts PUBLISH `<instance> <request id>` on `{kc}:gen:settled` when a request queued
 * with notifyWhenSettled becomes done (or is expired); this instance calls its listeners from the
 * script's answer at once (for every request), the others from their subscription (own messages are
 * skipped). A PUBLISH is sent to every subscribed instance, so it is kept for the requests a held
 * /generate/sync may wait on.
 */
export class RedisGenerationStore extends GenerationStore {
  private readonly logger = new Logger(RedisGenerationStore.name);
  private readonly instance = randomUUID();
  private readonly listeners: ((requestId: string) => void)[] = [];
  private subscription: Promise<void> | undefined;
  private readonly limits: RedisGenerationStoreLimits;
  /** Server name → id, as this store's proven pops answered them (see popFor): a hint, safe to lose. */
  private readonly serverIds = new Map<string, string>();

  constructor(
    private readonly redis: RedisConnection,
    limits: Partial<RedisGenerationStoreLimits> = {},
  ) {
    super();
    this.limits = { ...DEFAULT_REDIS_GENERATION_LIMITS, ...limits };
  }

  async enqueue(request: NewRequest, maxUnfinishedPerRequester: number): Promise<'queued' | 'over-limit'> {
    if (!Number.isFinite(request.priority)) throw new RangeError(`Priority must be a finite number, got ${request.priority}`);
    const { models, maxLength, maxContentLength } = request.wishes;
    const answer = await this.run(ENQUEUE, [
      request.id,
      request.username,
      request.requesterKey,
      JSON.stringify(models),
      models.length > 0 ? `\n${models.join('\n')}\n` : '',
      maxLength,
      maxContentLength,
      request.n,
      String(-request.priority),
      request.now,
      request.prompt,
      JSON.stringify(request.params),
      maxUnfinishedPerRequester,
      request.notifyWhenSettled ? 1 : 0,
    ]);
    return answer as 'queued' | 'over-limit';
  }

  async findRequest(id: string): Promise<RequestRecord | undefined> {
    const stored = (await this.run(FIND_REQUEST, [id])) as StoredRequest | null;
    return stored ? toRequest(stored) : undefined;
  }

  async findStanding(id: string, offers: readonly ServerOffer[]): Promise<RequestStandingRecord | undefined> {
    const args: (string | number)[] = [id];
    for (const offer of offers) args.push(offerKey(offer), offer.model, offer.maxLength, offer.maxContentLength);
    const stored = (await this.run(FIND_STANDING, args)) as [StoredRequest, number[], number, string, string, string[]] | null;
    if (!stored) return undefined;
    const [request, ranks, wholePosition, score, arrival, deferred] = stored;
    const ahead = deferredSlotsAhead(ranks, offers, Number(score), arrival, deferred);
    const ranked = ahead.filter((slots) => slots >= 0);
    return { request: toRequest(request), ahead: ahead.map((slots) => (slots < 0 ? undefined : slots)), position: ranked.length > 0 ? Math.min(...ranked) : wholePosition };
  }

  async takeNextSlot(take: SlotTake): Promise<StartedGeneration | { skipped: SkippedCounts }> {
    const { offer, deadline } = take;
    const answer = (await this.run(TAKE_NEXT_SLOT, [
      offerKey(offer),
      offer.model,
      offer.maxLength,
      offer.maxContentLength,
      take.serverId,
      take.generationId,
      take.now,
      deadline.minMs,
      deadline.msPerToken,
      deadline.maxMs,
      this.limits.maxOfferLines,
      this.limits.priorityScan,
      this.limits.deferredCounts,
      ...take.priorityUsernames,
    ])) as [string, ...unknown[]];
    if (answer[0] === 'skipped') {
      const [, model, maxContentLength, maxLength] = answer as [string, number, number, number];
      return { skipped: { model, max_content_length: maxContentLength, max_length: maxLength } };
    }
    return toStarted(answer as StoredStarted);
  }

  /**
   * The pop passes the id its store's last proven pop of the name answered, so that the check-in reads the
   * server's hash at once, without looking the name up (an HGET, about 6,000 Redis instructions); the
   * function checks that the hash still has the name and looks it up otherwise (the server was deleted and
   * the name registered again: a new id). At most `serverIdHints` names, the first remembered forgotten first.
   */
  async popFor(pop: ServerPop): Promise<ServerPopOutcome | undefined> {
    const { update, deadline } = pop;
    const priorityUsernames = new Set(pop.priorityUsernames);
    priorityUsernames.delete(update.owner);
    const idHint = this.serverIds.get(pop.name) ?? '';
    const args: (string | number)[] = [
      pop.name,
      idHint,
      pop.provenPasswordHash,
      update.lastSeenAt,
      seenScore(update.lastSeenAt),
      update.owner,
      update.maxLength,
      update.maxContentLength,
      pop.generationId,
      // One argument (see POP): each costs Redis a conversion.
      `${deadline.GENERATION_TIMEOUT_SAFETY_FACTOR * 1000} ${deadline.GENERATION_TIMEOUT_MIN_SECONDS * 1000} ${deadline.PROMPT_EXPIRY_SECONDS * 1000} ${this.limits.maxOfferLines} ${this.limits.priorityScan} ${this.limits.deferredCounts}`,
      pop.models.length,
    ];
    for (const model of pop.models) args.push(offerKey({ model, maxLength: update.maxLength, maxContentLength: update.maxContentLength }), model);
    args.push(...priorityUsernames);
    // One flat list: the outcome and its values, then the server before the check-in (see POP).
    const answer = (await this.run(POP, args)) as [string, ...unknown[]] | null;
    if (!answer) {
      this.serverIds.delete(pop.name);
      return undefined;
    }
    const outcome = answer[0];
    const serverAt = outcome === 'maintenance' ? 1 : outcome === 'started' ? 10 : 1 + 3 * pop.models.length;
    const server = toServerBefore(answer.slice(serverAt) as StoredServerBefore, pop.name, [update.owner, pop.models[0], update.maxLength, update.maxContentLength]);
    if (server.id !== idHint) this.rememberServerId(pop.name, server.id);
    if (outcome === 'maintenance') return { server, inMaintenance: true };
    if (outcome === 'skipped') {
      const skipped: SkippedCounts[] = [];
      for (let i = 1; i < serverAt; i += 3) skipped.push({ model: answer[i] as number, max_content_length: answer[i + 1] as number, max_length: answer[i + 2] as number });
      return { server, skipped };
    }
    return { server, started: toStarted(answer.slice(0, 9) as StoredStarted), model: answer[9] as string };
  }

  /** Remembers a name's server id (a hint for its next pop); past serverIdHints names, the one remembered first is forgotten. */
  private rememberServerId(name: string, id: string): void {
    this.serverIds.set(name, id);
    if (this.serverIds.size > this.limits.serverIdHints) this.serverIds.delete(this.serverIds.keys().next().value as string);
  }

  async findGeneration(id: string): Promise<GenerationRecord | undefined> {
    const stored = (await this.run(FIND_GENERATION, [id])) as StoredGeneration | null;
    return stored ? toGeneration(stored) : undefined;
  }

  async submit(submission: Submission): Promise<SubmitOutcome> {
    const { tokens } = submission;
    if (!Number.isSafeInteger(tokens)) throw new RangeError(`Tokens must be a whole number, got ${tokens}`);
    const answer = (await this.run(SUBMIT, [
      submission.generationId,
      submission.text,
      submission.now,
      tokens,
      // One argument, whatever the number of ids (server ids hold no newline).
      `\n${submission.provenServerIds.join('\n')}\n`,
    ])) as ['accepted', string, string, number, number, number] | ['unproven', string] | ['unknown' | 'already-submitted' | 'slot-complete'];
    if (answer[0] === 'unproven') return { outcome: 'unproven', serverId: answer[1] };
    if (answer[0] !== 'accepted') return { outcome: answer[0] };
    const [, id, createdAt, cancelled, done, settled] = answer;
    if (settled === 1) this.settled([id]);
    return { outcome: 'accepted', request: { id, createdAt: Number(createdAt), cancelled: cancelled === 1, done: done === 1 }, completedRequest: settled === 1 };
  }

  async abandon(generationId: string, now: number): Promise<AbandonOutcome> {
    const answer = (await this.run(ABANDON, [generationId, now])) as [string, StoredRequest, number];
    const outcome = answer[0];
    if (outcome !== 'put-back' && outcome !== 'dropped') return { outcome: outcome as 'unknown' | 'already-submitted' | 'not-in-progress' };
    const request = toRequest(answer[1]);
    if (answer[2] === 1) this.settled([request.id]);
    return { outcome, request };
  }

  async cancel(id: string, now: number): Promise<RequestRecord | undefined> {
    const answer = (await this.run(CANCEL, [id, now])) as [StoredRequest, number] | null;
    if (!answer) return undefined;
    const request = toRequest(answer[0]);
    if (answer[1] === 1) this.settled([request.id]);
    return request;
  }

  async restartOverdue(now: number): Promise<number> {
    let restarted = 0;
    for (;;) {
      const [count, read, settled] = (await this.run(RESTART_OVERDUE, [now, this.limits.batch])) as [number, number, string[]];
      restarted += count;
      this.settled(settled);
      if (read < this.limits.batch) return restarted;
    }
  }

  async expireIdle(cutoff: number, limit: number): Promise<ExpiredRequest[]> {
    const expired: ExpiredRequest[] = [];
    while (expired.length < limit) {
      const batch = Math.min(this.limits.batch, limit - expired.length);
      // {more, id, done, ...}: more is 1 when the function stopped at its bound of candidates read (see EXPIRE_IDLE).
      const [more, ...flat] = (await this.run(EXPIRE_IDLE, [cutoff, batch])) as [number, ...(string | number)[]];
      const ids: string[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        ids.push(flat[i] as string);
        expired.push({ id: flat[i] as string, done: flat[i + 1] === 1 });
      }
      this.settled(ids);
      if (more !== 1 && flat.length / 2 < batch) break;
    }
    return expired;
  }

  async countUnfinishedByRequester(requesterKey: string): Promise<number> {
    return Number((await this.redis.run((client) => client.hget(GENERATION_KEY_PREFIX + 'unfinished:requester', requesterKey))) ?? 0);
  }

  async countUnfinishedByUsername(username: string): Promise<number> {
    return Number((await this.redis.run((client) => client.hget(GENERATION_KEY_PREFIX + 'unfinished:username', username))) ?? 0);
  }

  async retainOffers(active: readonly ServerOffer[]): Promise<void> {
    await this.run(RETAIN_OFFERS, [...new Set(active.map(offerKey))]);
  }

  /** Reads every request held (in pipelined batches): O(requests held); callers cache it. */
  async summarize(): Promise<QueueSummary> {
    const members = await this.redis.run((client) => client.zrange(GENERATION_KEY_PREFIX + 'activity', '0', '-1'));
    const summary = emptyQueueSummary(members.length);
    for (let start = 0; start < members.length; start += 1_000) {
      const ids = members.slice(start, start + 1_000);
      const replies = await this.redis.transaction((multi) => {
        for (const id of ids) multi.hmget(GENERATION_KEY_PREFIX + 'req:' + id, 'models', 'ca', 'un', 'pb', 'pr');
        return multi;
      });
      for (const reply of replies) {
        const [models, createdAt, untouched, putBack, processing] = reply as (string | null)[];
        if (models === null) continue;
        addToSummary(summary, {
          processing: Number(processing),
          waiting: Number(untouched) + Number(putBack),
          createdAt: Number(createdAt),
          models: JSON.parse(models) as string[],
        });
      }
    }
    return summary;
  }

  onSettled(listener: (requestId: string) => void): void {
    this.listeners.push(listener);
    this.listening().catch((error: unknown) => this.logger.error(`Could not subscribe to ${SETTLED_CHANNEL}: ${(error as Error).message}`));
  }

  /**
   * Resolves once this instance receives the other instances' settled requests (subscribed on its own
   * connection; made on the first onSettled).
   */
  listening(): Promise<void> {
    this.subscription ??= this.redis.subscribe(SETTLED_CHANNEL, (message) => {
      const space = message.indexOf(' ');
      if (message.slice(0, space) === this.instance) return;
      this.settled([message.slice(space + 1)]);
    });
    return this.subscription;
  }

  private settled(ids: readonly string[]): void {
    for (const id of ids) {
      for (const listener of this.listeners) {
        try {
          listener(id);
        } catch (error) {
          this.logger.error(`A settled-request listener failed: ${(error as Error).message}`);
        }
      }
    }
  }

  private run(fn: LuaFunction, args: (string | number)[]): Promise<unknown> {
    return this.redis.runFunction(fn, FUNCTION_KEYS, [this.instance, ...args]);
  }
}

function toRequest(stored: StoredRequest): RequestRecord {
  const [id, username, requesterKey, models, maxLength, maxContentLength, n, createdAt, lastActivityAt, waiting, processing, restarted, cancelled, texts, authors] = stored;
  return {
    id,
    username,
    requesterKey,
    wishes: { models: JSON.parse(models) as string[], maxLength: Number(maxLength), maxContentLength: Number(maxContentLength) },
    n: Number(n),
    createdAt: Number(createdAt),
    lastActivityAt: Number(lastActivityAt),
    waiting,
    processing,
    restarted,
    cancelled: cancelled === 1,
    generations: texts,
    generationAuthors: authors.map(toAuthor),
    done: waiting === 0 && processing === 0,
  };
}

/** `<server id>\n<model>` (a server id never holds a newline). */
function toAuthor(stored: string): GenerationAuthor {
  const newline = stored.indexOf('\n');
  return { serverId: stored.slice(0, newline), model: stored.slice(newline + 1) };
}

function toGeneration([id, requestId, serverId, startedAt, deadline, state]: StoredGeneration): GenerationRecord {
  return { id, requestId, serverId, startedAt: Number(startedAt), deadline: Number(deadline), state: state as GenerationRecord['state'] };
}

function toStarted([, generationId, requestId, deadlineAt, prompt, params, models, maxLength, maxContentLength]: StoredStarted): StartedGeneration {
  return {
    generationId,
    requestId,
    payload: { ...(JSON.parse(params) as Record<string, unknown>), prompt, n: 1 },
    wishes: { models: JSON.parse(models) as string[], maxLength: Number(maxLength), maxContentLength: Number(maxContentLength) },
    deadline: Number(deadlineAt),
  };
}

/**
 * The server before its check-in from the pop's answer; `name` is the name popped with (a name points only
 * to the server made with it), `sent` the owner, model, maxLength and maxContentLength the pop sent, which
 * the answer leaves out when the server had them already.
 */
function toServerBefore(stored: StoredServerBefore, name: string, sent: readonly (string | number)[]): ServerBeforeCheckIn {
  const [id, lastSeenAt, maintenance] = stored;
  const [owner, model, maxLength, maxContentLength] = stored.length === 3 ? sent : stored.slice(3);
  return { id, name, owner: owner as string, model: model as string, maxLength: Number(maxLength), maxContentLength: Number(maxContentLength), lastSeenAt: Number(lastSeenAt), maintenance: maintenance === '1' };
}
