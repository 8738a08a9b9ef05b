import { ServerOffer, SkippedCounts } from '../domain/prompt-queue';
import type { DeadlineRule, DeadlineSettings } from '../domain/deadline';
import type { CheckInUpdate, ServerBeforeCheckIn } from '../../servers/persistence/server.repository';
import { GenerationAuthor, PromptWishes } from '../domain/waiting-prompt';

/**
 * The port of the requests in flight and their processing generations: what GenerationService asks of
 * them, one operation at a time. Every operation is one atomic step in every adapter (in memory: one
 * synchronous turn of the event loop; in Redis: one Lua script over keys under one hash tag), so a slot
 * is never handed out twice, a generation never credited twice, and a cancel never loses an in-flight
 * generation's credit, whichever instance runs the operation.
 *
 * Adapters: `InMemoryGenerationStore` (wraps the pure PromptQueue engine; the default) and
 * `RedisGenerationStore` (REDIS_URL set). Both pass `generation.store.contract.ts`.
 *
 * Nothing here writes prompts or generations to disk; the Redis adapter keeps them in Redis memory
 * only while the request lives.
 */
export abstract class GenerationStore {
  /**
   * Queues a new request, unless its requester already has `maxUnfinishedPerRequester` unfinished
   * requests (checked and added in one step, so two instances cannot both slip under the cap).
   */
  abstract enqueue(request: NewRequest, maxUnfinishedPerRequester: number): Promise<'queued' | 'over-limit'>;

  /** A request as it is now, or undefined when unknown or expired. Does not count as activity. */
  abstract findRequest(id: string): Promise<RequestRecord | undefined>;

  /**
   * A request with where it stands for each of `offers` (the distinct offers of the active servers):
   * the waiting slots ahead of its next slot in that offer's line, or undefined where the offer cannot
   * serve it. Undefined when the request is unknown. See PromptQueue on why per offer, not a union.
   */
  abstract findStanding(id: string, offers: readonly ServerOffer[]): Promise<RequestStandingRecord | undefined>;

  /**
   * A pop: starts the best waiting slot `offer` can serve (`priorityUsernames` first, then fair share,
   * then the older request), as a processing generation of `serverId` whose deadline follows
   * `deadline`; or, with nothing it can serve, the waiting requests it skipped, by reason. Counts as
   * activity on the request.
   */
  abstract takeNextSlot(take: SlotTake): Promise<StartedGeneration | { skipped: SkippedCounts }>;

  /**
   * The pop of a server whose password the caller has proven (`pop.provenPasswordHash`, the hash it
   * verified the pop's password against), in one step: the server's check-in (ServerRepository.checkInByName
   * with `pop.update`), then, unless its owner put it in maintenance, a takeNextSlot for each of its
   * offers in turn (the pop's models with its limits; priority to its owner, `update.owner`, then
   * `pop.priorityUsernames`; the deadline rule of its measured speed, deadlineRuleFor) until one starts a
   * slot. Answers undefined, without any change, when no server holds the name or the proven hash is not
   * its password hash (the caller then proves the password against the server as it is, and pops again).
   * A networked adapter makes it one round trip for a pop, whatever the number of models.
   */
  abstract popFor(pop: ServerPop): Promise<ServerPopOutcome | undefined>;

  /**
   * The processing generation with this id (in progress, overdue or done), or undefined once its
   * request is gone. A redo whose slot was completed by the late text of the attempt it replaced reads
   * `superseded`.
   */
  abstract findGeneration(id: string): Promise<GenerationRecord | undefined>;

  /**
   * A submit: checks that the generation's server is among `provenServerIds` (the servers the caller has
   * proven the submitter to be, by password) and still exists, then takes the generation's text and, in
   * the same atomic step, credits `tokens`: the requester's (request username's) usage, the contributions
   * of the server's owner as it is at this submit (read by the store), and one job of `tokens` in
   * `(now − startedAt) / 1000` seconds for the generation's server. Refused without any change, and
   * without credit, in this order: the generation is unknown ('unknown'); its server is not among
   * `provenServerIds` or no longer exists ('unproven', with the server's id, so that the caller can prove
   * it and submit again); it was already submitted ('already-submitted'); or its slot was completed by
   * another attempt after this one missed its deadline ('slot-complete'). A late text of an overdue
   * attempt whose slot is not complete is accepted: it completes the slot (a waiting put-back slot leaves
   * the line; a redo in progress is superseded and its own submit later gets 'slot-complete'). A text for
   * a cancelled request is still taken and credited. Counts as activity.
   */
  abstract submit(submission: Submission): Promise<SubmitOutcome>;

  /**
   * A server gives a generation up (the v2 API's `state: "faulted"`): in one atomic step its slot goes
   * back to waiting at once, as after a missed deadline (counted in `restarted`; dropped instead when the
   * request was cancelled, which may make it done: onSettled fires), and nothing is credited. The attempt
   * reads `overdue` from then on (a late text of it is still taken, as of any overdue attempt).
   * 'not-in-progress' without any change when the attempt had already missed its deadline or its slot
   * was completed by another attempt; 'unknown' and 'already-submitted' as for submit. Counts as
   * activity when it changed something.
   */
  abstract abandon(generationId: string, now: number): Promise<AbandonOutcome>;

  /**
   * Cancels a request: its waiting slots are dropped; slots in progress still finish and are credited.
   * Answers the request after the change, or undefined when unknown. Counts as activity.
   */
  abstract cancel(id: string, now: number): Promise<RequestRecord | undefined>;

  /**
   * Puts the slots of processing generations whose deadline is at or before `now` back to waiting
   * (dropped when their request was cancelled). Safe to run on any number of instances at once: each
   * generation is put back at most once. Answers how many slots went back to waiting.
   */
  abstract restartOverdue(now: number): Promise<number>;
  // (A request whose cancelled slot is dropped this way may become done: onSettled fires for it.)

  /**
   * Deletes at most `limit` requests with no activity since `cutoff`, the longest idle first, with
   * their processing generations and texts. Safe on any number of instances: each is deleted once,
   * and reported by the instance that deleted it.
   */
  abstract expireIdle(cutoff: number, limit: number): Promise<ExpiredRequest[]>;

  /** Unfinished requests (waiting or in progress) of one requester (see NewRequest.requesterKey). */
  abstract countUnfinishedByRequester(requesterKey: string): Promise<number>;

  /** Unfinished requests (waiting or in progress) made under one username. */
  abstract countUnfinishedByUsername(username: string): Promise<number>;

  /** Forgets the matching state kept for offers not among `active` (the offers of the active servers). */
  abstract retainOffers(active: readonly ServerOffer[]): Promise<void>;

  /** The requests in flight at a glance; may read every request, so callers cache it. */
  abstract summarize(): Promise<QueueSummary>;

  /**
   * Calls `listener` with the id of every request that became done (all slots finished, or cancelled
   * with nothing in progress) or was expired: on the instance where that happened, always; on the other
   * instances, for requests enqueued with `notifyWhenSettled`. Delivery between instances may be lost:
   * a listener that must not miss one re-reads with findRequest on a timer.
   */
  abstract onSettled(listener: (requestId: string) => void): void;
}

export interface NewRequest {
  id: string;
  prompt: string;
  /** KoboldAI generation parameters without `n`: they reach the worker untouched. */
  params: Record<string, unknown>;
  username: string;
  /** Who the per-requester cap counts this request for: the username, or for anonymous requests their address. */
  requesterKey: string;
  wishes: PromptWishes;
  n: number;
  /** Standing in line, fixed at creation: higher is served first (the fair-share rule). */
  priority: number;
  now: number;
  /**
   * Tell every instance's onSettled listeners when it settles (a held /generate/sync may wait for it on
   * another instance). Without it, only the instance where it settled is told: no message is sent
   * between instances for the requests nobody waits on, which are most of them.
   */
  notifyWhenSettled?: boolean;
}

/** A request as stored, without its prompt and params (those are read only by the pop that starts a slot). */
export interface RequestRecord {
  id: string;
  username: string;
  requesterKey: string;
  wishes: PromptWishes;
  n: number;
  createdAt: number;
  lastActivityAt: number;
  /** Slots no server has taken, or put back and not taken again. */
  waiting: number;
  /** Slots in progress. */
  processing: number;
  /** Slots put back after a missed deadline, so far. */
  restarted: number;
  cancelled: boolean;
  /** The texts so far, in the order they arrived. */
  generations: string[];
  /** Who made each text of `generations`, in the same order: the server, and the model of the offer it popped with. */
  generationAuthors: GenerationAuthor[];
  /** Nothing waiting or in progress. */
  done: boolean;
}

export interface RequestStandingRecord {
  request: RequestRecord;
  /** Per given offer, in order: waiting slots ahead of the request's next slot in its line, or undefined (cannot serve it). */
  ahead: (number | undefined)[];
  /** The fewest of `ahead`; when no given offer can serve it (or none has a line), the slots ahead in the whole queue. */
  position: number;
}

/** How a pop's deadline is worked out (now + clamp(wished max_length × msPerToken, minMs, maxMs)): see domain/deadline.ts, `deadlineOf`. */
export type { DeadlineRule } from '../domain/deadline';

export interface SlotTake {
  /** What the server offers; its model is recorded as the model of the generation (see GenerationAuthor). */
  offer: ServerOffer;
  priorityUsernames: ReadonlySet<string>;
  serverId: string;
  /** The new processing generation's id. */
  generationId: string;
  deadline: DeadlineRule;
  now: number;
}

export interface ServerPop {
  /** The popping server's name, and the hash its password was proven against by the caller. */
  name: string;
  provenPasswordHash: string;
  /** The check-in (owner, the first model, limits, last seen: now). */
  update: CheckInUpdate;
  /** The models offered, tried in order with the update's limits; the first is the update's model. */
  models: readonly [string, ...string[]];
  /** Served first after the owner (update.owner). */
  priorityUsernames: readonly string[];
  /** The id of the processing generation, if one is started. */
  generationId: string;
  deadline: DeadlineSettings;
}

export type { ServerBeforeCheckIn } from '../../servers/persistence/server.repository';

/** A popFor's outcome, with its server as it was before the check-in (to tell what the check-in changed). */
export type ServerPopOutcome = { server: ServerBeforeCheckIn } & (
  | { inMaintenance: true }
  /** A started slot, with the model whose offer took it; or, with nothing to do, the skipped counts of each model in order. */
  | { started: StartedGeneration; model: string }
  | { skipped: SkippedCounts[] }
);

export interface StartedGeneration {
  generationId: string;
  requestId: string;
  /** The body a worker sends to KoboldAI's api/latest/generate: the params, the prompt, `n: 1`. */
  payload: Record<string, unknown>;
  wishes: PromptWishes;
  /** When the slot goes back to waiting if no text arrives (ms since the epoch). */
  deadline: number;
}

export interface GenerationRecord {
  id: string;
  requestId: string;
  serverId: string;
  startedAt: number;
  deadline: number;
  state: 'processing' | 'overdue' | 'submitted' | 'superseded';
}

export interface Submission {
  generationId: string;
  text: string;
  now: number;
  /** Tokens of the text: the requester's usage, the owner's contribution, the server's job. */
  tokens: number;
  /** The servers the submitter has proven to be (ServersService.serversProvenBy): the generation's server must be one of them. */
  provenServerIds: readonly string[];
}

export type SubmitOutcome =
  | {
      outcome: 'accepted';
      /** The request after the text was added, without its texts (findRequest has them; findGeneration the generation). */
      request: SubmittedRequest;
      /** This submit made the request done (for the completion metric). */
      completedRequest: boolean;
    }
  /** The generation exists, but its server is not among `provenServerIds` or no longer exists: nothing changed. */
  | { outcome: 'unproven'; serverId: string }
  | { outcome: 'unknown' | 'already-submitted' | 'slot-complete' };

/**
 * What a submit answers of its request: no texts, so that a submit costs the same whatever the request's
 * `n` (the texts so far would be read and sent back with every one of its n submits).
 */
export interface SubmittedRequest {
  id: string;
  createdAt: number;
  cancelled: boolean;
  /** Nothing waiting or in progress. */
  done: boolean;
}

export type AbandonOutcome =
  | {
      /** 'put-back': the slot waits again; 'dropped': the request was cancelled, so the slot is gone. */
      outcome: 'put-back' | 'dropped';
      /** The request after the change. */
      request: RequestRecord;
    }
  | { outcome: 'unknown' | 'already-submitted' | 'not-in-progress' };

export interface ExpiredRequest {
  id: string;
  /** It was done when it expired (so it did not go unserved). */
  done: boolean;
}

/** Waiting requests and their waiting slots. */
export interface WaitingCount {
  requests: number;
  slots: number;
}

/** The requests in flight at a glance, for metrics and the status page. */
export interface QueueSummary {
  /** Requests with at least one waiting slot, and those slots. */
  waiting: WaitingCount;
  /** Generations handed to a server and not handed in yet. */
  processingGenerations: number;
  /** When the oldest request with a waiting slot was made (ms since the epoch), or null. */
  oldestWaitingSince: number | null;
  /** Waiting requests by a model they ask for (a request asking for several counts for each). */
  waitingByModel: Map<string, WaitingCount>;
  /** Waiting requests that any model may serve. */
  waitingForAnyModel: WaitingCount;
  /** Requests held (waiting, processing, or finished and not yet expired). */
  held: number;
}
