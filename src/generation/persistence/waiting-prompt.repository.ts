import { ProcessingGeneration } from '../domain/processing-generation';
import { QueueMatch, QueueStanding, ServerOffer } from '../domain/prompt-queue';
import { WaitingPrompt } from '../domain/waiting-prompt';

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
}

/**
 * Port for the requests in flight and their processing generations. Unlike users and servers, these
 * live in this process's memory only (prompts never touch disk), so the methods are synchronous: a pop
 * must pick and start a slot in one step, with nothing interleaved.
 */
export abstract class WaitingPromptRepository {
  abstract add(prompt: WaitingPrompt): void;
  abstract findById(id: string): WaitingPrompt | undefined;
  /** Records activity on a request (keeps it from expiring). */
  abstract touch(prompt: WaitingPrompt, now: number): void;
  /** Removes a request and its processing generations. */
  abstract delete(prompt: WaitingPrompt): void;
  /**
   * Brings the indexes up to date after the request changed (slots finished, put back or cancelled):
   * its place in line, and its requester's count of unfinished requests.
   */
  abstract refresh(prompt: WaitingPrompt): void;
  /** Starts a slot of the best request `offer` can serve (`priorityUsernames` first), or says what it skipped. */
  abstract takeNextFor(offer: ServerOffer, now: number, priorityUsernames: ReadonlySet<string>): QueueMatch;
  /** Requests with no activity since `cutoff`, oldest activity first; at most `limit` of them. */
  abstract findIdleSince(cutoff: number, limit?: number): WaitingPrompt[];
  /** Unfinished requests (waiting or in progress) of one requester (see WaitingPrompt.requesterKey). */
  abstract countUnfinishedByRequester(requesterKey: string): number;
  /** Unfinished requests (waiting or in progress) made under one username. */
  abstract countUnfinishedByUsername(username: string): number;
  /**
   * Where the request stands for servers like `offers` (one per distinct offer of the active servers able
   * to serve it): the waiting slots ahead of its next slot in each offer's line, and the fewest of them.
   */
  abstract standingInLine(prompt: WaitingPrompt, offers: readonly ServerOffer[]): QueueStanding;
  /** Forgets the matching state kept for offers not among `active` (the offers of the active servers). */
  abstract retainOffers(active: readonly ServerOffer[]): void;
  abstract addProcessing(generation: ProcessingGeneration): void;
  abstract findProcessingById(id: string): ProcessingGeneration | undefined;
  /** Processing generations still in progress whose deadline is at or before `now`, earliest first. */
  abstract findOverdue(now: number): ProcessingGeneration[];
  /** Number of requests held (waiting, processing or finished but not yet expired). */
  abstract count(): number;
  /** Counts of the requests held; reads every request, so callers cache it (metrics scrapes, status page). */
  abstract summarize(): QueueSummary;
}
