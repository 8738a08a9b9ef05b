import { Logger } from '@nestjs/common';
import { Heap } from 'heap-js';
import { tokensPerSecond } from '../../servers/domain/kobold-server';
import { deadlineOf, deadlineRuleFor } from '../domain/deadline';
import { ProcessingGeneration } from '../domain/processing-generation';
import { PromptQueue, ServerOffer, SkippedCounts } from '../domain/prompt-queue';
import { WaitingPrompt, WishesInterner } from '../domain/waiting-prompt';
import { GenerationLedger } from './generation-ledger';
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
import { addToSummary, emptyQueueSummary } from './queue-summary';

const QUEUED = Promise.resolve('queued' as const);
const OVER_LIMIT = Promise.resolve('over-limit' as const);
const UNKNOWN: Promise<SubmitOutcome> = Promise.resolve({ outcome: 'unknown' });
const ALREADY_SUBMITTED: Promise<SubmitOutcome> = Promise.resolve({ outcome: 'already-submitted' });
const SLOT_COMPLETE: Promise<SubmitOutcome> = Promise.resolve({ outcome: 'slot-complete' });
const NOTHING = Promise.resolve(undefined);
const UNKNOWN_ABANDON: Promise<AbandonOutcome> = Promise.resolve({ outcome: 'unknown' });
const ALREADY_SUBMITTED_ABANDON: Promise<AbandonOutcome> = Promise.resolve({ outcome: 'already-submitted' });
const NOT_IN_PROGRESS: Promise<AbandonOutcome> = Promise.resolve({ outcome: 'not-in-progress' });

/**
 * The GenerationStore of one process: the pure PromptQueue engine and the WaitingPrompt slots, plus
 * the indexes around them (requests in order of last activity for expiry, processing generations by
 * deadline, unfinished requests per requester and per username). Every operation runs in one
 * synchronous turn of the event loop, so it is atomic; it answers plain records, never the domain
 * objects it holds. Prompts and texts live in this process's memory only.
 */
export class InMemoryGenerationStore extends GenerationStore {
  private readonly logger = new Logger(InMemoryGenerationStore.name);
  /** Kept in order of last activity (a touch moves a request to the end), so expiry reads only the front. */
  private readonly prompts = new Map<string, WaitingPrompt>();
  private readonly generations = new Map<string, ProcessingGeneration>();
  private readonly generationIdsByPrompt = new Map<string, string[]>();
  /** Processing generations by deadline; entries of finished or deleted ones are dropped lazily. */
  private readonly deadlines = new Heap<ProcessingGeneration>((a, b) => a.deadline - b.deadline);
  private readonly queue = new PromptQueue();
  /**
   * Requests here that are done, so no longer counted as unfinished; every other request here is
   * counted. (Kept this way round because most requests here are the waiting ones.)
   */
  private readonly finished = new Set<WaitingPrompt>();
  /** Unfinished requests of each requester and of each username. */
  private readonly unfinishedByRequester = new Map<string, number>();
  private readonly unfinishedByUsername = new Map<string, number>();
  /** Waiting requests with the same wishes share one object: they are many, their wishes are few. */
  private readonly wishes = new WishesInterner();
  private readonly settledListeners: ((requestId: string) => void)[] = [];

  constructor(private readonly ledger: GenerationLedger) {
    super();
  }

  enqueue(request: NewRequest, maxUnfinishedPerRequester: number): Promise<'queued' | 'over-limit'> {
    if ((this.unfinishedByRequester.get(request.requesterKey) ?? 0) >= maxUnfinishedPerRequester) return OVER_LIMIT;
    if (this.prompts.has(request.id)) throw new Error(`Request ${request.id} is already queued`);
    const prompt = new WaitingPrompt({
      id: request.id,
      prompt: request.prompt,
      params: request.params,
      username: request.username,
      requesterKey: request.requesterKey,
      wishes: this.wishes.intern(request.wishes),
      n: request.n,
      now: request.now,
      priority: request.priority,
    });
    // A new request starts uncounted; refresh counts it unless it is already done.
    this.finished.add(prompt);
    this.prompts.set(prompt.id, prompt);
    this.refresh(prompt);
    return QUEUED;
  }

  findRequest(id: string): Promise<RequestRecord | undefined> {
    const prompt = this.prompts.get(id);
    return prompt ? Promise.resolve(recordOf(prompt)) : NOTHING;
  }

  findStanding(id: string, offers: readonly ServerOffer[]): Promise<RequestStandingRecord | undefined> {
    const prompt = this.prompts.get(id);
    if (!prompt) return NOTHING;
    const { position, ahead } = this.queue.standingOf(prompt, offers);
    return Promise.resolve({ request: recordOf(prompt), position, ahead });
  }

  async popFor(pop: ServerPop): Promise<ServerPopOutcome | undefined> {
    const found = await this.ledger.checkIn(pop.name, pop.update, pop.provenPasswordHash);
    if (!found?.checkedIn) return undefined;
    const { before } = found;
    const server: ServerBeforeCheckIn = {
      id: before.id,
      name: before.name,
      owner: before.owner,
      model: before.model,
      maxLength: before.maxLength,
      maxContentLength: before.maxContentLength,
      lastSeenAt: before.lastSeenAt,
      maintenance: before.maintenance,
    };
    if (before.maintenance) return { server, inMaintenance: true };
    const { maxLength, maxContentLength, owner, lastSeenAt: now } = pop.update;
    const priorityUsernames = new Set([owner, ...pop.priorityUsernames]);
    // The check-in leaves the jobs as they were: the speed is that of `before`.
    const deadline = deadlineRuleFor(tokensPerSecond(before), pop.deadline);
    const skipped: SkippedCounts[] = [];
    for (const model of pop.models) {
      const taken = await this.takeNextSlot({ offer: { model, maxLength, maxContentLength }, priorityUsernames, serverId: before.id, generationId: pop.generationId, deadline, now });
      if (!('skipped' in taken)) return { server, started: taken, model };
      skipped.push(taken.skipped);
    }
    return { server, skipped };
  }

  takeNextSlot(take: SlotTake): Promise<StartedGeneration | { skipped: SkippedCounts }> {
    const now = take.now;
    const match = this.queue.take(take.offer, now, take.priorityUsernames);
    if (!match.prompt) return Promise.resolve(match);
    const prompt = match.prompt;
    this.touch(prompt, now);
    const generation: ProcessingGeneration = {
      id: take.generationId,
      promptId: prompt.id,
      serverId: take.serverId,
      model: take.offer.model,
      slot: match.slot,
      startedAt: now,
      deadline: deadlineOf(take.deadline, prompt.wishes.maxLength, now),
      state: 'processing',
    };
    prompt.assign(generation);
    this.generations.set(generation.id, generation);
    this.deadlines.push(generation);
    const ids = this.generationIdsByPrompt.get(prompt.id);
    if (ids) ids.push(generation.id);
    else this.generationIdsByPrompt.set(prompt.id, [generation.id]);
    return Promise.resolve({ generationId: generation.id, requestId: prompt.id, payload: prompt.payload(), wishes: prompt.wishes, deadline: generation.deadline });
  }

  findGeneration(id: string): Promise<GenerationRecord | undefined> {
    const generation = this.generations.get(id);
    return generation ? Promise.resolve(generationRecordOf(generation)) : NOTHING;
  }

  async submit(submission: Submission): Promise<SubmitOutcome> {
    const known = this.generations.get(submission.generationId);
    if (!known || !this.prompts.has(known.promptId)) return UNKNOWN;
    if (!submission.provenServerIds.includes(known.serverId)) return { outcome: 'unproven', serverId: known.serverId };
    // Read before the turn that checks and accepts, which awaits nothing until the credit has started.
    const serverOwner = await this.ledger.ownerOf(known.serverId);
    const generation = this.generations.get(submission.generationId);
    const prompt = generation && this.prompts.get(generation.promptId);
    if (!generation || !prompt) return UNKNOWN;
    if (serverOwner === undefined) return { outcome: 'unproven', serverId: generation.serverId };
    const wasDone = prompt.done;
    const refusal = prompt.finishSlot(generation, submission.text, submission.now);
    if (refusal === 'already-submitted') return ALREADY_SUBMITTED;
    if (refusal === 'slot-complete') return SLOT_COMPLETE;
    this.touch(prompt, submission.now);
    this.refresh(prompt);
    // Started in this same turn, right after the acceptance: no second acceptance can come in between.
    const credited = this.ledger.credit({
      requester: prompt.username,
      serverOwner,
      serverId: generation.serverId,
      tokens: submission.tokens,
      seconds: (submission.now - generation.startedAt) / 1000,
    });
    const completedRequest = !wasDone && prompt.done;
    const request = { id: prompt.id, createdAt: prompt.createdAt, cancelled: prompt.cancelled, done: prompt.done };
    const outcome: SubmitOutcome = { outcome: 'accepted', request, completedRequest };
    if (completedRequest) this.settled(prompt.id);
    await credited;
    return outcome;
  }

  abandon(generationId: string, now: number): Promise<AbandonOutcome> {
    const generation = this.generations.get(generationId);
    const prompt = generation && this.prompts.get(generation.promptId);
    if (!generation || !prompt) return UNKNOWN_ABANDON;
    if (generation.state === 'submitted') return ALREADY_SUBMITTED_ABANDON;
    const slot = generation.slot;
    if (generation.state !== 'processing' || slot.state !== 'processing' || slot.attemptId !== generation.id) return NOT_IN_PROGRESS;
    // Its deadline entry stays in the heap: restartOverdue skips what is no longer processing.
    const putBack = prompt.putBackOverdue(generation);
    this.touch(prompt, now);
    this.refresh(prompt);
    if (prompt.done) this.settled(prompt.id);
    return Promise.resolve({ outcome: putBack ? 'put-back' : 'dropped', request: recordOf(prompt) });
  }

  cancel(id: string, now: number): Promise<RequestRecord | undefined> {
    const prompt = this.prompts.get(id);
    if (!prompt) return NOTHING;
    const wasDone = prompt.done;
    prompt.cancel();
    this.touch(prompt, now);
    this.refresh(prompt);
    if (!wasDone && prompt.done) this.settled(prompt.id);
    return Promise.resolve(recordOf(prompt));
  }

  restartOverdue(now: number): Promise<number> {
    let restarted = 0;
    for (let next = this.deadlines.peek(); next && next.deadline <= now; next = this.deadlines.peek()) {
      this.deadlines.pop();
      if (next.state !== 'processing' || this.generations.get(next.id) !== next) continue;
      const prompt = this.prompts.get(next.promptId);
      if (!prompt) continue;
      const wasDone = prompt.done;
      if (prompt.putBackOverdue(next)) restarted += 1;
      this.refresh(prompt);
      if (!wasDone && prompt.done) this.settled(prompt.id);
    }
    return Promise.resolve(restarted);
  }

  expireIdle(cutoff: number, limit: number): Promise<ExpiredRequest[]> {
    const idle: WaitingPrompt[] = [];
    for (const prompt of this.prompts.values()) {
      if (prompt.lastActivityAt > cutoff || idle.length >= limit) break;
      idle.push(prompt);
    }
    const expired = idle.map((prompt) => {
      const done = prompt.done;
      this.delete(prompt);
      return { id: prompt.id, done };
    });
    for (const { id } of expired) this.settled(id);
    return Promise.resolve(expired);
  }

  countUnfinishedByRequester(requesterKey: string): Promise<number> {
    return Promise.resolve(this.unfinishedByRequester.get(requesterKey) ?? 0);
  }

  countUnfinishedByUsername(username: string): Promise<number> {
    return Promise.resolve(this.unfinishedByUsername.get(username) ?? 0);
  }

  retainOffers(active: readonly ServerOffer[]): Promise<void> {
    this.queue.retainOffers(active);
    return NOTHING;
  }

  summarize(): Promise<QueueSummary> {
    const summary = emptyQueueSummary(this.prompts.size);
    for (const prompt of this.prompts.values()) {
      addToSummary(summary, { processing: prompt.processing, waiting: prompt.waiting, createdAt: prompt.createdAt, models: prompt.wishes.models });
    }
    return Promise.resolve(summary);
  }

  onSettled(listener: (requestId: string) => void): void {
    this.settledListeners.push(listener);
  }

  /** Calls the listeners synchronously, right after the change; one failing listener does not stop the others. */
  private settled(requestId: string): void {
    for (const listener of this.settledListeners) {
      try {
        listener(requestId);
      } catch (error) {
        this.logger.error(`A settled-request listener failed: ${(error as Error).stack ?? String(error)}`);
      }
    }
  }

  /** Records activity on a request (keeps it from expiring): it moves to the end of the activity order. */
  private touch(prompt: WaitingPrompt, now: number): void {
    prompt.lastActivityAt = now;
    if (this.prompts.delete(prompt.id)) this.prompts.set(prompt.id, prompt);
  }

  /** Removes a request and its processing generations. */
  private delete(prompt: WaitingPrompt): void {
    this.queue.remove(prompt);
    this.countAsUnfinished(prompt, false);
    this.finished.delete(prompt);
    this.prompts.delete(prompt.id);
    for (const id of this.generationIdsByPrompt.get(prompt.id) ?? []) this.generations.delete(id);
    this.generationIdsByPrompt.delete(prompt.id);
  }

  /**
   * Brings the indexes in step with a changed request (slots started, finished, put back or cancelled):
   * its place in line, and its requester's count of unfinished requests.
   */
  private refresh(prompt: WaitingPrompt): void {
    if (prompt.waiting > 0) this.queue.enqueue(prompt);
    else this.queue.remove(prompt);
    this.countAsUnfinished(prompt, !prompt.done);
  }

  private countAsUnfinished(prompt: WaitingPrompt, unfinished: boolean): void {
    if (unfinished !== this.finished.has(prompt)) return;
    if (unfinished) this.finished.delete(prompt);
    else this.finished.add(prompt);
    addCount(this.unfinishedByRequester, prompt.requesterKey, unfinished ? 1 : -1);
    addCount(this.unfinishedByUsername, prompt.username, unfinished ? 1 : -1);
  }
}

function recordOf(prompt: WaitingPrompt): RequestRecord {
  return {
    id: prompt.id,
    username: prompt.username,
    requesterKey: prompt.requesterKey,
    wishes: prompt.wishes,
    n: prompt.n,
    createdAt: prompt.createdAt,
    lastActivityAt: prompt.lastActivityAt,
    waiting: prompt.waiting,
    processing: prompt.processing,
    restarted: prompt.restarted,
    cancelled: prompt.cancelled,
    generations: [...prompt.generations],
    generationAuthors: prompt.generationAuthors.map((author) => ({ serverId: author.serverId, model: author.model })),
    done: prompt.done,
  };
}

/** An attempt still marked in progress or overdue whose slot another attempt completed reads `superseded`. */
function generationRecordOf(generation: ProcessingGeneration): GenerationRecord {
  const superseded = (generation.state === 'processing' || generation.state === 'overdue') && generation.slot.state === 'finished';
  return {
    id: generation.id,
    requestId: generation.promptId,
    serverId: generation.serverId,
    startedAt: generation.startedAt,
    deadline: generation.deadline,
    state: superseded ? 'superseded' : generation.state,
  };
}

function addCount(counts: Map<string, number>, key: string, change: number): void {
  const count = (counts.get(key) ?? 0) + change;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}
