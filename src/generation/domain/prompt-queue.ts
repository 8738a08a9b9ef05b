import { OrderedSet } from '@js-sdsl/ordered-set';
import { PromptWishes, WaitingPrompt } from './waiting-prompt';
import { GenerationSlot } from './processing-generation';

/** What a polling server offers. */
export interface ServerOffer {
  model: string;
  maxLength: number;
  maxContentLength: number;
}

/** Why a server could not take a request: the original KoboldAI-cluster's `skipped` keys. */
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

/**
 * One waiting slot in line. A request with `n` waiting slots has `n` entries, side by side in its
 * group's line (they share the request's priority and arrival, and differ only by `slotNo`).
 */
interface SlotEntry {
  readonly prompt: WaitingPrompt;
  readonly slotNo: number;
  /** Where the entry sits in its requester's heap (see {@link UserHeap}). */
  heapIndex: number;
}

/** Served first: higher priority, then the older request, then its earlier slot. */
const servedFirst = (a: SlotEntry, b: SlotEntry): number =>
  b.prompt.priority - a.prompt.priority || a.prompt.arrival - b.prompt.arrival || a.slotNo - b.slotNo;

const newLine = (): OrderedSet<SlotEntry> => new OrderedSet<SlotEntry>([], servedFirst, true);

const NO_USERNAMES: ReadonlySet<string> = new Set();

/**
 * One requester's waiting slots in one group, best first: a binary heap by {@link servedFirst} whose
 * entries know their index, so any entry is removed in O(log k). It is only read at its head (a
 * server's priority usernames), so it needs no order beyond that, and costs one array slot per entry.
 */
type UserHeap = SlotEntry[];

function heapPush(heap: UserHeap, entry: SlotEntry): void {
  heap.push(entry);
  siftUp(heap, heap.length - 1, entry);
}

function heapRemove(heap: UserHeap, entry: SlotEntry): void {
  const last = heap.pop() as SlotEntry;
  if (last !== entry) {
    siftUp(heap, entry.heapIndex, last);
    siftDown(heap, last.heapIndex, last);
  }
  entry.heapIndex = -1;
}

/** Puts `entry` at `index` or above it, moving worse parents down. */
function siftUp(heap: UserHeap, index: number, entry: SlotEntry): void {
  while (index > 0) {
    const parentIndex = (index - 1) >> 1;
    const parent = heap[parentIndex];
    if (servedFirst(entry, parent) >= 0) break;
    heap[index] = parent;
    parent.heapIndex = index;
    index = parentIndex;
  }
  heap[index] = entry;
  entry.heapIndex = index;
}

/** Puts `entry` at `index` or below it, moving better children up. */
function siftDown(heap: UserHeap, index: number, entry: SlotEntry): void {
  for (;;) {
    let childIndex = 2 * index + 1;
    if (childIndex >= heap.length) break;
    if (childIndex + 1 < heap.length && servedFirst(heap[childIndex + 1], heap[childIndex]) < 0) childIndex += 1;
    const child = heap[childIndex];
    if (servedFirst(child, entry) >= 0) break;
    heap[index] = child;
    child.heapIndex = index;
    index = childIndex;
  }
  heap[index] = entry;
  entry.heapIndex = index;
}

/** Waiting requests that share the same wishes; one check decides for all of them. */
interface WishGroup {
  key: string;
  wishes: PromptWishes;
  /** Every waiting slot of the group, in serving order, with positions. */
  line: OrderedSet<SlotEntry>;
  /** The same slots by requester, for servers that serve some usernames first. */
  byUser: Map<string, UserHeap>;
  /** Requests in this group that have a waiting slot. */
  requests: number;
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
 *
 * Memory: a waiting slot costs one small entry, one tree node and one slot of its requester's heap;
 * a request's entries are found in its group's line (they are side by side), so nothing else is kept
 * per request.
 */
export class PromptQueue {
  private readonly groups = new Map<string, WishGroup>();
  private requests = 0;
  private nextSlotNo = 0;

  /** Requests with at least one waiting slot. */
  get size(): number {
    return this.requests;
  }

  has(prompt: WaitingPrompt): boolean {
    const group = this.groups.get(groupKey(prompt.wishes));
    return group !== undefined && this.firstEntry(group, prompt) !== undefined;
  }

  /**
   * Brings the request's entries in line with its waiting slots: adds the missing ones (a request that
   * comes back, with a slot put back after a missed deadline, keeps its original place) and drops
   * those it no longer has (a late text completed a put-back slot).
   */
  enqueue(prompt: WaitingPrompt): void {
    const key = groupKey(prompt.wishes);
    let group = this.groups.get(key);
    const entries = group ? this.entriesOf(group, prompt) : [];
    const missing = prompt.waiting - entries.length;
    if (group && missing < 0) {
      for (const entry of entries.slice(missing)) this.eraseEntry(group, entry);
      if (prompt.waiting === 0) this.leave(group);
      return;
    }
    if (missing <= 0) return;
    if (!group) {
      group = { key, wishes: prompt.wishes, line: newLine(), byUser: new Map(), requests: 0 };
      this.groups.set(key, group);
    }
    if (entries.length === 0) {
      group.requests += 1;
      this.requests += 1;
    }
    let userHeap = group.byUser.get(prompt.username);
    for (let i = 0; i < missing; i++) {
      const entry: SlotEntry = { prompt, slotNo: this.nextSlotNo++, heapIndex: -1 };
      group.line.insert(entry);
      if (userHeap) heapPush(userHeap, entry);
      else {
        entry.heapIndex = 0;
        userHeap = [entry];
        group.byUser.set(prompt.username, userHeap);
      }
    }
  }

  /** Takes a request out of line (cancelled, expired, or no waiting slot left). */
  remove(prompt: WaitingPrompt): void {
    const group = this.groups.get(groupKey(prompt.wishes));
    if (!group) return;
    const entries = this.entriesOf(group, prompt);
    if (entries.length === 0) return;
    for (const entry of entries) this.eraseEntry(group, entry);
    this.leave(group);
  }

  /**
   * The best waiting slot the server can serve, started; or, when there is none, how many waiting
   * requests it had to skip, by reason. `priorityUsernames` are served before anyone else.
   */
  take(offer: ServerOffer, now: number, priorityUsernames: ReadonlySet<string> = NO_USERNAMES): QueueMatch {
    let best: SlotEntry | undefined;
    let bestGroup: WishGroup | undefined;
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
        const head = group.byUser.get(username)?.[0];
        if (head && (!bestIsPriority || !best || servedFirst(head, best) < 0)) {
          best = head;
          bestGroup = group;
          bestIsPriority = true;
        }
      }
      if (bestIsPriority) continue;
      const head = group.line.front();
      if (head && (!best || servedFirst(head, best) < 0)) {
        best = head;
        bestGroup = group;
      }
    }
    if (!best || !bestGroup) return { skipped: skipped ?? { model: 0, max_content_length: 0, max_length: 0 } };
    const prompt = best.prompt;
    this.eraseEntry(bestGroup, best);
    // `best` is its request's first entry (the best of its line, or of its requester's heap): the
    // request keeps its place if its next entry follows.
    const next = bestGroup.line.lowerBound(best);
    if (next.equals(bestGroup.line.end()) || next.pointer.prompt !== prompt) this.leave(bestGroup);
    return { prompt, slot: prompt.startSlot(now) };
  }

  /**
   * How many waiting slots are served before this request's next slot by servers like `offers`: the
   * slots ahead of it in every group one of those servers can serve. Priority usernames, which differ
   * per server, are not counted. With no offers, only its own group counts.
   */
  positionOf(prompt: WaitingPrompt, offers: readonly ServerOffer[]): number {
    const own = this.groups.get(groupKey(prompt.wishes));
    if (!own) return 0;
    const probe: SlotEntry = { prompt, slotNo: -1, heapIndex: -1 };
    const first = own.line.lowerBound(probe);
    if (first.equals(own.line.end()) || first.pointer.prompt !== prompt) return 0;
    let position = 0;
    for (const group of this.groups.values()) {
      if (group === own) {
        position += first.index;
        continue;
      }
      if (!offers.some((offer) => skipReason(group.wishes, offer) === null)) continue;
      const at = group.line.lowerBound(probe);
      position += at.equals(group.line.end()) ? group.line.size() : at.index;
    }
    return position;
  }

  /** The request's first entry in the group's line, if it has one. */
  private firstEntry(group: WishGroup, prompt: WaitingPrompt): SlotEntry | undefined {
    const at = group.line.lowerBound({ prompt, slotNo: -1, heapIndex: -1 });
    return at.equals(group.line.end()) || at.pointer.prompt !== prompt ? undefined : at.pointer;
  }

  /** The request's entries in the group's line, in order: they are side by side. */
  private entriesOf(group: WishGroup, prompt: WaitingPrompt): SlotEntry[] {
    const entries: SlotEntry[] = [];
    const end = group.line.end();
    for (let at = group.line.lowerBound({ prompt, slotNo: -1, heapIndex: -1 }); !at.equals(end) && at.pointer.prompt === prompt; at.next()) {
      entries.push(at.pointer);
    }
    return entries;
  }

  /** Erases one entry from its group's line and its requester's heap. */
  private eraseEntry(group: WishGroup, entry: SlotEntry): void {
    group.line.eraseElementByKey(entry);
    const username = entry.prompt.username;
    const userHeap = group.byUser.get(username);
    if (!userHeap) return;
    heapRemove(userHeap, entry);
    if (userHeap.length === 0) group.byUser.delete(username);
  }

  /** A request of the group has no waiting slot left. */
  private leave(group: WishGroup): void {
    group.requests -= 1;
    this.requests -= 1;
    if (group.requests === 0) this.groups.delete(group.key);
  }
}

function groupKey(wishes: PromptWishes): string {
  const models = wishes.models.length > 0 ? JSON.stringify([...new Set(wishes.models)].sort()) : '*';
  return `${models}|${wishes.maxLength}|${wishes.maxContentLength}`;
}
