import { OrderedSet } from '@js-sdsl/ordered-set';
import { PromptWishes, WaitingPrompt } from './waiting-prompt';
import { GenerationSlot } from './processing-generation';

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

/** One waiting slot in line. A request with `n` waiting slots has `n` entries, side by side. */
interface SlotEntry {
  prompt: WaitingPrompt;
  priority: number;
  seq: number;
  slotNo: number;
}

/** Served first: higher priority, then the older request, then its earlier slot. */
const servedFirst = (a: SlotEntry, b: SlotEntry): number => b.priority - a.priority || a.seq - b.seq || a.slotNo - b.slotNo;

const newLine = (): OrderedSet<SlotEntry> => new OrderedSet<SlotEntry>([], servedFirst, true);

/** Waiting requests that share the same wishes; one check decides for all of them. */
interface WishGroup {
  key: string;
  wishes: PromptWishes;
  /** Every waiting slot of the group, in serving order, with positions. */
  line: OrderedSet<SlotEntry>;
  /** The same slots by requester, for servers that serve some usernames first. */
  byUser: Map<string, OrderedSet<SlotEntry>>;
  /** Requests in this group that have a waiting slot. */
  requests: number;
}

interface Queued {
  group: WishGroup;
  entries: SlotEntry[];
}

/**
 * The matching of waiting requests to servers, in memory, with no framework in it.
 *
 * Requests are grouped by their wishes (models, max_length, max_content_length). Each group keeps its
 * waiting slots in serving order (a balanced tree with positions). A pop checks each group once and
 * takes the best slot from the groups the server can serve, so its cost grows with the number of
 * distinct wishes (and the server's priority usernames), and only logarithmically with the number of
 * waiting requests. The `skipped` counts of an empty pop come from the groups' counters, and a
 * request's position in line is a sum of tree positions, never a scan.
 *
 * Serving order: a server's priority usernames first; then the request's `priority` (fixed when the
 * request was made: see the fair-share rule in GenerationService); then the older request.
 */
export class PromptQueue {
  private readonly groups = new Map<string, WishGroup>();
  private readonly queued = new Map<WaitingPrompt, Queued>();
  private readonly seqs = new WeakMap<WaitingPrompt, number>();
  private nextSeq = 0;
  private nextSlotNo = 0;

  /** Requests with at least one waiting slot. */
  get size(): number {
    return this.queued.size;
  }

  has(prompt: WaitingPrompt): boolean {
    return this.queued.has(prompt);
  }

  /**
   * Brings the request's entries in line with its waiting slots: adds the missing ones (a request that
   * comes back, with a slot put back after a missed deadline, keeps its original place) and drops
   * those it no longer has (a late text completed a put-back slot).
   */
  enqueue(prompt: WaitingPrompt): void {
    let queued = this.queued.get(prompt);
    const missing = prompt.waiting - (queued?.entries.length ?? 0);
    if (queued && missing < 0) {
      for (const entry of queued.entries.slice(missing)) this.removeEntry(queued, entry);
      return;
    }
    if (missing === 0) return;
    let seq = this.seqs.get(prompt);
    if (seq === undefined) {
      seq = this.nextSeq++;
      this.seqs.set(prompt, seq);
    }
    if (!queued) {
      queued = { group: this.groupFor(prompt.wishes), entries: [] };
      this.queued.set(prompt, queued);
      queued.group.requests += 1;
    }
    const { group } = queued;
    let userLine = group.byUser.get(prompt.username);
    if (!userLine) {
      userLine = newLine();
      group.byUser.set(prompt.username, userLine);
    }
    for (let i = 0; i < missing; i++) {
      const entry: SlotEntry = { prompt, priority: prompt.priority, seq, slotNo: this.nextSlotNo++ };
      queued.entries.push(entry);
      group.line.insert(entry);
      userLine.insert(entry);
    }
  }

  /** Takes a request out of line (cancelled, expired, or no waiting slot left). */
  remove(prompt: WaitingPrompt): void {
    const queued = this.queued.get(prompt);
    if (!queued) return;
    for (const entry of [...queued.entries]) this.removeEntry(queued, entry);
  }

  /**
   * The best waiting slot the server can serve, started; or, when there is none, how many waiting
   * requests it had to skip, by reason. `priorityUsernames` are served before anyone else.
   */
  take(offer: ServerOffer, now: number, priorityUsernames: ReadonlySet<string> = new Set()): QueueMatch {
    let best: SlotEntry | undefined;
    let bestIsPriority = false;
    let skipped: SkippedCounts | undefined;
    for (const group of this.groups.values()) {
      const reason = skipReason(group.wishes, offer);
      if (reason !== null) {
        skipped ??= { model: 0, max_content_length: 0, max_length: 0 };
        skipped[reason] += group.requests;
        continue;
      }
      for (const username of priorityUsernames) {
        const head = group.byUser.get(username)?.front();
        if (head && (!bestIsPriority || !best || servedFirst(head, best) < 0)) {
          best = head;
          bestIsPriority = true;
        }
      }
      if (bestIsPriority) continue;
      const head = group.line.front();
      if (head && (!best || servedFirst(head, best) < 0)) best = head;
    }
    if (!best) return { skipped: skipped ?? { model: 0, max_content_length: 0, max_length: 0 } };
    const prompt = best.prompt;
    this.removeEntry(this.queued.get(prompt) as Queued, best);
    return { prompt, slot: prompt.startSlot(now) };
  }

  /**
   * How many waiting slots are served before this request's next slot by servers like `offers`: the
   * slots ahead of it in every group one of those servers can serve. Priority usernames, which differ
   * per server, are not counted. With no offers, only its own group counts.
   */
  positionOf(prompt: WaitingPrompt, offers: readonly ServerOffer[]): number {
    const queued = this.queued.get(prompt);
    if (!queued) return 0;
    const probe: SlotEntry = { prompt, priority: prompt.priority, seq: this.seqs.get(prompt) ?? 0, slotNo: -1 };
    let position = 0;
    for (const group of this.groups.values()) {
      const counts = group === queued.group || offers.some((offer) => skipReason(group.wishes, offer) === null);
      if (!counts) continue;
      const at = group.line.lowerBound(probe);
      position += at.equals(group.line.end()) ? group.line.size() : at.index;
    }
    return position;
  }

  private removeEntry(queued: Queued, entry: SlotEntry): void {
    const { group } = queued;
    group.line.eraseElementByKey(entry);
    const userLine = group.byUser.get(entry.prompt.username);
    if (userLine) {
      userLine.eraseElementByKey(entry);
      if (userLine.size() === 0) group.byUser.delete(entry.prompt.username);
    }
    queued.entries.splice(queued.entries.indexOf(entry), 1);
    if (queued.entries.length > 0) return;
    this.queued.delete(entry.prompt);
    group.requests -= 1;
    if (group.requests === 0) this.groups.delete(group.key);
  }

  private groupFor(wishes: PromptWishes): WishGroup {
    const key = groupKey(wishes);
    let group = this.groups.get(key);
    if (!group) {
      group = { key, wishes, line: newLine(), byUser: new Map(), requests: 0 };
      this.groups.set(key, group);
    }
    return group;
  }
}

function groupKey(wishes: PromptWishes): string {
  const models = wishes.models.length > 0 ? JSON.stringify([...new Set(wishes.models)].sort()) : '*';
  return `${models}|${wishes.maxLength}|${wishes.maxContentLength}`;
}
