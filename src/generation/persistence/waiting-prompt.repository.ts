import { ProcessingGeneration } from '../domain/processing-generation';
import { QueueMatch, ServerOffer } from '../domain/prompt-queue';
import { WaitingPrompt } from '../domain/waiting-prompt';

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
  /** Takes the request out of the line of waiting requests (it keeps its status and in-flight slots). */
  abstract removeFromQueue(prompt: WaitingPrompt): void;
  /** Starts a slot of the best request `offer` can serve, or says what it skipped. */
  abstract takeNextFor(offer: ServerOffer, now: number): QueueMatch;
  /** Requests with no activity since `cutoff`, oldest activity first. */
  abstract findIdleSince(cutoff: number): WaitingPrompt[];
  abstract addProcessing(generation: ProcessingGeneration): void;
  abstract findProcessingById(id: string): ProcessingGeneration | undefined;
  /** Number of requests held (waiting, processing or finished but not yet expired). */
  abstract count(): number;
}
