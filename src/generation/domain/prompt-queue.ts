import { Heap } from 'heap-js';
import { GenerationSlot } from './processing-generation';
import { PromptWishes, WaitingPrompt } from './waiting-prompt';

/** What a polling server offers. */
export interface ServerOffer {
  model: string;
  maxLength: number;
  maxContentLength: number;
}

/** Why a server could not take a request: the seed server's `skipped` keys. */
export type SkipReason = 'model' | 'max_content_length' | 'max_length';
export type SkippedCounts = Record<SkipReason, number>;

/** Why `offer` cannot serve a request with `wishes`, or null when it can. Like is compared with like. */
export function skipReason(wishes: PromptWishes, offer: ServerOffer): SkipReason | null {
  if (wishes.models.length > 0 && !wishes.models.includes(offer.model)) return 'model';
  if (wishes.maxContentLength > offer.maxContentLength) return 'max_content_length';
  if (wishes.maxLength > offer.maxLength) return 'max_length';
  return null;
}

export type QueueMatch =
  | { prompt: WaitingPrompt; slot: GenerationSlot; skipped?: undefined }
  | { prompt?: undefined; slot?: undefined; skipped: SkippedCounts };

interface QueueEntry {
  prompt: WaitingPrompt;
  ticket: number;
  seq: number;
}

/** Waiting requests that share the same wishes; one check decides for all of them. */
interface WishGroup {
  key: string;
  wishes: PromptWishes;
  heap: Heap<QueueEntry>;
  /** Requests in this group that have a waiting slot. */
  count: number;
}

const byAge = (a: QueueEntry, b: QueueEntry): number => a.seq - b.seq;

/**
 * The matching of waiting requests to servers, in memory, with no framework in it.
 *
 * Requests are grouped by their wishes (models, max_length, max_content_length). A pop checks each
 * group once and takes the oldest request from the groups the server can serve, so its cost grows
 * with the number of distinct wishes, never with the number of waiting requests. The `skipped` counts
 * of an empty pop come from the groups' counters.
 */
export class PromptQueue {
  private readonly groups = new Map<string, WishGroup>();
  /** Queued requests: the ticket of their live heap entry, and their group. */
  private readonly tickets = new Map<WaitingPrompt, { ticket: number; group: WishGroup }>();
  private readonly seqs = new WeakMap<WaitingPrompt, number>();
  private nextSeq = 0;
  private nextTicket = 0;

  /** Requests with at least one waiting slot. */
  get size(): number {
    return this.tickets.size;
  }

  has(prompt: WaitingPrompt): boolean {
    return this.tickets.has(prompt);
  }

  /** Queues a request that has waiting slots. A request keeps its place in line if it comes back. */
  enqueue(prompt: WaitingPrompt): void {
    if (prompt.waiting <= 0 || this.tickets.has(prompt)) return;
    let seq = this.seqs.get(prompt);
    if (seq === undefined) {
      seq = this.nextSeq++;
      this.seqs.set(prompt, seq);
    }
    const ticket = this.nextTicket++;
    const group = this.groupFor(prompt.wishes);
    this.tickets.set(prompt, { ticket, group });
    group.heap.push({ prompt, ticket, seq });
    group.count += 1;
  }

  /** Takes a request out of line (cancelled, expired, or no waiting slot left). */
  remove(prompt: WaitingPrompt): void {
    const queued = this.tickets.get(prompt);
    if (!queued) return;
    this.tickets.delete(prompt);
    const group = queued.group;
    group.count -= 1;
    if (group.count === 0) this.groups.delete(group.key);
  }

  /**
   * The oldest request the server can serve, with one of its slots started; or, when there is none,
   * how many waiting requests it had to skip, by reason.
   */
  take(offer: ServerOffer, now: number): QueueMatch {
    let best: QueueEntry | undefined;
    let skipped: SkippedCounts | undefined;
    for (const group of this.groups.values()) {
      const reason = skipReason(group.wishes, offer);
      if (reason !== null) {
        skipped ??= { model: 0, max_content_length: 0, max_length: 0 };
        skipped[reason] += group.count;
        continue;
      }
      const head = this.head(group);
      if (head && (!best || head.seq < best.seq)) best = head;
    }
    if (!best) return { skipped: skipped ?? { model: 0, max_content_length: 0, max_length: 0 } };
    const prompt = best.prompt;
    const slot = prompt.startSlot(now);
    if (prompt.waiting === 0) this.remove(prompt);
    return { prompt, slot };
  }

  /** The group's oldest live entry; entries of requests taken out of line are dropped lazily. */
  private head(group: WishGroup): QueueEntry | undefined {
    let top = group.heap.peek();
    while (top && this.tickets.get(top.prompt)?.ticket !== top.ticket) {
      group.heap.pop();
      top = group.heap.peek();
    }
    return top;
  }

  private groupFor(wishes: PromptWishes): WishGroup {
    const key = groupKey(wishes);
    let group = this.groups.get(key);
    if (!group) {
      group = {
        key,
        wishes,
        heap: new Heap<QueueEntry>(byAge),
        count: 0,
      };
      this.groups.set(key, group);
    }
    return group;
  }
}

function groupKey(wishes: PromptWishes): string {
  const models = wishes.models.length > 0 ? JSON.stringify([...new Set(wishes.models)].sort()) : '*';
  return `${models}|${wishes.maxLength}|${wishes.maxContentLength}`;
}
