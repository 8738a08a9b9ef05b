import { Injectable } from '@nestjs/common';
import { Heap } from 'heap-js';
import { ProcessingGeneration } from '../domain/processing-generation';
import { PromptQueue, QueueMatch, QueueStanding, ServerOffer } from '../domain/prompt-queue';
import { WaitingPrompt } from '../domain/waiting-prompt';
import { QueueSummary, WaitingCount, WaitingPromptRepository } from './waiting-prompt.repository';

@Injectable()
export class InMemoryWaitingPromptRepository extends WaitingPromptRepository {
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

  add(prompt: WaitingPrompt): void {
    // A new request starts uncounted; refresh counts it unless it is already done.
    if (this.prompts.get(prompt.id) !== prompt) this.finished.add(prompt);
    this.prompts.set(prompt.id, prompt);
    this.refresh(prompt);
  }

  findById(id: string): WaitingPrompt | undefined {
    return this.prompts.get(id);
  }

  touch(prompt: WaitingPrompt, now: number): void {
    prompt.lastActivityAt = now;
    if (this.prompts.delete(prompt.id)) this.prompts.set(prompt.id, prompt);
  }

  delete(prompt: WaitingPrompt): void {
    this.queue.remove(prompt);
    if (this.prompts.get(prompt.id) === prompt) {
      this.countAsUnfinished(prompt, false);
      this.finished.delete(prompt);
    }
    this.prompts.delete(prompt.id);
    for (const id of this.generationIdsByPrompt.get(prompt.id) ?? []) this.generations.delete(id);
    this.generationIdsByPrompt.delete(prompt.id);
  }

  refresh(prompt: WaitingPrompt): void {
    if (!this.prompts.has(prompt.id)) return;
    if (prompt.waiting > 0) this.queue.enqueue(prompt);
    else this.queue.remove(prompt);
    this.countAsUnfinished(prompt, !prompt.done);
  }

  takeNextFor(offer: ServerOffer, now: number, priorityUsernames: ReadonlySet<string>): QueueMatch {
    const match = this.queue.take(offer, now, priorityUsernames);
    if (match.prompt) this.touch(match.prompt, now);
    return match;
  }

  findIdleSince(cutoff: number, limit = Infinity): WaitingPrompt[] {
    const idle: WaitingPrompt[] = [];
    for (const prompt of this.prompts.values()) {
      if (prompt.lastActivityAt > cutoff || idle.length >= limit) break;
      idle.push(prompt);
    }
    return idle;
  }

  countUnfinishedByRequester(requesterKey: string): number {
    return this.unfinishedByRequester.get(requesterKey) ?? 0;
  }

  countUnfinishedByUsername(username: string): number {
    return this.unfinishedByUsername.get(username) ?? 0;
  }

  standingInLine(prompt: WaitingPrompt, offers: readonly ServerOffer[]): QueueStanding {
    return this.queue.standingOf(prompt, offers);
  }

  retainOffers(active: readonly ServerOffer[]): void {
    this.queue.retainOffers(active);
  }

  addProcessing(generation: ProcessingGeneration): void {
    this.generations.set(generation.id, generation);
    this.deadlines.push(generation);
    const ids = this.generationIdsByPrompt.get(generation.promptId);
    if (ids) ids.push(generation.id);
    else this.generationIdsByPrompt.set(generation.promptId, [generation.id]);
  }

  findProcessingById(id: string): ProcessingGeneration | undefined {
    return this.generations.get(id);
  }

  findOverdue(now: number): ProcessingGeneration[] {
    const overdue: ProcessingGeneration[] = [];
    for (let next = this.deadlines.peek(); next && next.deadline <= now; next = this.deadlines.peek()) {
      this.deadlines.pop();
      if (next.state === 'processing' && this.generations.get(next.id) === next) overdue.push(next);
    }
    return overdue;
  }

  count(): number {
    return this.prompts.size;
  }

  summarize(): QueueSummary {
    const summary: QueueSummary = {
      waiting: { requests: 0, slots: 0 },
      processingGenerations: 0,
      oldestWaitingSince: null,
      waitingByModel: new Map(),
      waitingForAnyModel: { requests: 0, slots: 0 },
    };
    for (const prompt of this.prompts.values()) {
      summary.processingGenerations += prompt.processing;
      const slots = prompt.waiting;
      if (slots === 0) continue;
      addWaiting(summary.waiting, slots);
      if (summary.oldestWaitingSince === null || prompt.createdAt < summary.oldestWaitingSince) summary.oldestWaitingSince = prompt.createdAt;
      if (prompt.wishes.models.length === 0) addWaiting(summary.waitingForAnyModel, slots);
      for (const model of new Set(prompt.wishes.models)) {
        let count = summary.waitingByModel.get(model);
        if (!count) summary.waitingByModel.set(model, (count = { requests: 0, slots: 0 }));
        addWaiting(count, slots);
      }
    }
    return summary;
  }

  /** Only for a request here. */
  private countAsUnfinished(prompt: WaitingPrompt, unfinished: boolean): void {
    if (unfinished !== this.finished.has(prompt)) return;
    if (unfinished) this.finished.delete(prompt);
    else this.finished.add(prompt);
    addCount(this.unfinishedByRequester, prompt.requesterKey, unfinished ? 1 : -1);
    addCount(this.unfinishedByUsername, prompt.username, unfinished ? 1 : -1);
  }
}

function addWaiting(count: WaitingCount, slots: number): void {
  count.requests += 1;
  count.slots += slots;
}

function addCount(counts: Map<string, number>, key: string, change: number): void {
  const count = (counts.get(key) ?? 0) + change;
  if (count > 0) counts.set(key, count);
  else counts.delete(key);
}
