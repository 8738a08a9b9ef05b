import { Injectable } from '@nestjs/common';
import { ProcessingGeneration } from '../domain/processing-generation';
import { PromptQueue, QueueMatch, ServerOffer } from '../domain/prompt-queue';
import { WaitingPrompt } from '../domain/waiting-prompt';
import { WaitingPromptRepository } from './waiting-prompt.repository';

@Injectable()
export class InMemoryWaitingPromptRepository extends WaitingPromptRepository {
  /** Kept in order of last activity (a touch moves a request to the end), so expiry reads only the front. */
  private readonly prompts = new Map<string, WaitingPrompt>();
  private readonly generations = new Map<string, ProcessingGeneration>();
  private readonly generationIdsByPrompt = new Map<string, string[]>();
  private readonly queue = new PromptQueue();

  add(prompt: WaitingPrompt): void {
    this.prompts.set(prompt.id, prompt);
    this.queue.enqueue(prompt);
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
    this.prompts.delete(prompt.id);
    for (const id of this.generationIdsByPrompt.get(prompt.id) ?? []) this.generations.delete(id);
    this.generationIdsByPrompt.delete(prompt.id);
  }

  removeFromQueue(prompt: WaitingPrompt): void {
    this.queue.remove(prompt);
  }

  takeNextFor(offer: ServerOffer, now: number): QueueMatch {
    const match = this.queue.take(offer, now);
    if (match.prompt) this.touch(match.prompt, now);
    return match;
  }

  findIdleSince(cutoff: number): WaitingPrompt[] {
    const idle: WaitingPrompt[] = [];
    for (const prompt of this.prompts.values()) {
      if (prompt.lastActivityAt > cutoff) break;
      idle.push(prompt);
    }
    return idle;
  }

  addProcessing(generation: ProcessingGeneration): void {
    this.generations.set(generation.id, generation);
    const ids = this.generationIdsByPrompt.get(generation.promptId);
    if (ids) ids.push(generation.id);
    else this.generationIdsByPrompt.set(generation.promptId, [generation.id]);
  }

  findProcessingById(id: string): ProcessingGeneration | undefined {
    return this.generations.get(id);
  }

  count(): number {
    return this.prompts.size;
  }
}
