import { GenerationSlot } from './processing-generation';
import { QueueItem, servedFirst, ServingLine } from './serving-line';
import { PromptWishes, WaitingPrompt } from './waiting-prompt';

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


/** Where a waiting request stands in the lines of the offers able to serve it (see {@link PromptQueue.standingOf}). */
export interface QueueStanding {
  /**
   * The fewest waiting slots ahead of the request's next slot in the line of any one of the given offers
   * that can serve it; when none of them has a line, the waiting slots ahead of it in the whole queue.
   */
  position: number;
  /** For each given offer, in order: the slots ahead in its line, or undefined (it cannot serve the request, or has no line). */
  ahead: (number | undefined)[];
}

/** Limits of the per-offer and per-requester state (see {@link PromptQueue}). */
export interface PromptQueueLimits {
  /** Offer lines kept at most; past it, the least recently popped line is dropped. */
  maxOfferLines: number;
  /** A requester with more waiting requests than this gets, per offer line, a line of their own (for priority usernames). */
  heavyRequester: number;
  /**
   * Requests whose change of slot count the lines may not have been told yet; past it, the least recently
   * changed is told. 0 tells every change at once.
   */
  deferredCounts: number;
}

export const DEFAULT_QUEUE_LIMITS: PromptQueueLimits = { maxOfferLines: 64, heavyRequester: 64, deferredCounts: 64 };

const NO_USERNAMES: ReadonlySet<string> = new Set();

export function offerKey(offer: ServerOffer): string {
  return `${offer.model}|${offer.maxLength}|${offer.maxContentLength}`;
}

/** Everything one distinct server offer can serve, in serving order, and what it cannot, counted by reason. */
class OfferLine {
  /** Pop counter at the last pop with this offer, for dropping the least recently popped line. */
  lastPop = 0;
  /** Lines of heavy requesters' requests this offer can serve, made on the first pop that puts them first. */
  readonly heavyRequesters = new Map<string, ServingLine>();
  /** Scratch of {@link PromptQueue.standingOf}: the status read that last asked for this line, and its deferred slots ahead. */
  askedBy = 0;
  deferredAhead = 0;

  constructor(
    readonly key: string,
    readonly offer: ServerOffer,
    readonly line: ServingLine,
    /** Waiting requests this offer cannot serve, by the first reason (model, then context, then length). */
    readonly skipped: SkippedCounts,
  ) {}
}

/**
 * A change of a request's slot count that the lines have not been told yet (see {@link PromptQueue}):
 * one of at most `deferredCounts` records, reused.
 */
interface DeferredCount {
  item: QueueItem | null;
  /** Slots gained (+) or lost (−) since the lines last counted the request. */
  delta: number;
  /** When it last changed (the queue's change clock): the least recently changed is told first. */
  changedAt: number;
  /** The offer lines that hold the request: kept up to date as lines are made and dropped. */
  readonly lines: OfferLine[];
}

/** One requester's (username's) waiting requests, in no order. */
interface RequesterItems {
  items: QueueItem[];
  /** More than `heavyRequester` requests: looked up through per-offer lines instead of a scan. */
  heavy: boolean;
}

/**
 * The matching of waiting requests to servers, in memory, with no framework in it.
 *
 * Design: one line per distinct server offer. Servers are few and their offers (model, max_length,
 * max_content_length) fewer; requests are many and each may want something of its own. So the queue
 * keeps, for every distinct offer a server popped with, a {@link ServingLine} (an ordered set) of exactly
 * the requests that offer can serve, in serving order, plus the number of requests it cannot serve by
 * skip reason. Every waiting request is also in one line of the whole queue. A request joining or leaving
 * is checked against each offer once and inserted into or removed from the lines of the offers that can
 * serve it: O(L × (m + log n)) for L offer lines, m models it names, n requests waiting. A pop reads
 * one line: its first request (each line remembers it), or its three counters when it is empty; then it
 * records the started request's new slot count: O(L × (m + log n)) at worst, whatever the requests want
 * and however varied, and usually O(1) (below).
 *
 * Deferred slot counts. The lines count waiting slots (for queue positions), so a started slot changes
 * the count of its request in every line that holds it. Pops come over HTTP, with the lines out of the
 * CPU cache, and the slots of a request are started one after the other (its `n`, by one server or
 * many): so a change is not told to the lines at once. Up to `deferredCounts` (64) requests keep theirs
 * aside, with the lines that hold them; a further change of the same request only adds to it; past the
 * limit the least recently changed is told (O(L × log n), one request). A request that runs out of
 * waiting slots leaves the lines with the count they knew, so its deferred change never needs telling.
 * A status read adds, exactly, the deferred changes of the requests ahead of it in each line it asks
 * about: O(deferredCounts × L) more, no request read. Order and `first` do not depend on counts.
 * A server's priority usernames (its owner always included) cost one lookup each: a requester with at
 * most `heavyRequester` waiting requests is scanned (a bounded list), a heavier one (only anonymous
 * requests or a raised MAX_WAITING_REQUESTS_PER_USER get there) has its own line per offer, made on the
 * first pop that asks for it.
 *
 * Why not the alternatives. Grouping by wishes (the earlier design) makes a pop scan every group, and
 * every request can be its own group. A per-model index with a 2-D structure over the two lengths would
 * answer the model and lengths in one query, but a request naming 10 models sits in 10 such indexes
 * against the few offers that can actually serve it, and the best-first query over two length bounds
 * needs a range tree (O(log² n), O(n log n) memory). Offers are what servers send: their number is set
 * by the cluster, not by the requests.
 *
 * Queue position. The exact figure over several kinds of servers able to serve a request is the union
 * of their lines ahead of it, and that cannot be had within the bound: counting the requests ahead whose
 * model list meets the request's own is set-disjointness counting (the orthogonal-vectors problem), for
 * which no structure answers in time polynomial in the offers and logarithmic in n (an index per distinct
 * set of capable offers has up to 2^L of them, and real requests make nearly every set occur; a Redis
 * ZUNIONSTORE is O(N) too). So a status read gets, exactly, the slots ahead of the request in the line of
 * each capable offer, and `position` is the smallest of them: the line that reaches the request first
 * (0 means the next pop of some capable server takes it). With one kind of capable server, the usual case,
 * that is the old figure. With none, or when none of them has a line, it is the slots ahead in the whole
 * queue: the most any server could serve first.
 *
 * Serving order (unchanged): a server's priority usernames first; then the request's `priority` (fixed
 * when the request was made: the fair-share rule in GenerationService); then the older request; a
 * request's slots side by side, put-back ones first (WaitingPrompt hands them out). A slot put back keeps
 * its request's place, since the place is the request's.
 *
 * Limits. Lines exist only for offers a server popped with; {@link retainOffers} drops those no active
 * server makes any more, and past `maxOfferLines` (64) the least recently popped line is dropped. Making a
 * line reads the whole queue once (O(n), from the whole-queue line, already in order), so it happens once
 * per offer while at most `maxOfferLines` distinct offers are active, and then once per pop of an offer
 * whose line was dropped; requesters cannot cause it (offers come only from servers). Per-requester
 * lines exist only for requesters above `heavyRequester` that a server puts first, and go when the
 * requester falls below half that or the offer line goes. Memory: per waiting request one item, one
 * map entry, one entry in the whole-queue line, one in each line of an offer that can serve it (a slot
 * in a B+ tree leaf: no object per request), one slot in its requester's list; per offer line three
 * counters; at most `deferredCounts` deferred changes.
 *
 * In Redis terms: one sorted set per offer line and one for the whole queue (score: the serving order),
 * a hash of three skip counters per offer line, a set of the known offers; a pop is ZRANGE 0 0 on its
 * offer's set (ZCARD 0: read the counters), then ZREM/ZADD of the started request in the sets of the
 * offers that can serve it; a position is ZRANK per capable offer (one member per waiting slot, so that
 * the rank counts slots: this class counts them in its tree nodes instead). Deferring counts is for
 * this in-memory class (cache misses); a Redis adapter would keep its sets exact at every pop.
 */
export class PromptQueue {
  private readonly items = new Map<WaitingPrompt, QueueItem>();
  private readonly whole = new ServingLine();
  private readonly offerLines = new Map<string, OfferLine>();
  private readonly requesters = new Map<string, RequesterItems>();
  private pops = 0;
  private readonly limits: PromptQueueLimits;
  /** Changes of slot counts the lines have not been told: entries 0..deferredCount-1 are in use. */
  private readonly deferred: DeferredCount[] = [];
  private deferredCount = 0;
  private changes = 0;
  private statusReads = 0;

  constructor(limits: Partial<PromptQueueLimits> = {}) {
    this.limits = { ...DEFAULT_QUEUE_LIMITS, ...limits };
  }

  /** Requests with at least one waiting slot. */
  get size(): number {
    return this.items.size;
  }

  /** Offer lines held (at most `maxOfferLines`). */
  get offerLineCount(): number {
    return this.offerLines.size;
  }

  has(prompt: WaitingPrompt): boolean {
    return this.items.has(prompt);
  }

  /**
   * Brings the request's place in line in step with its waiting slots: adds a new request, counts the
   * slots it gained (put back after a missed deadline: it keeps its place) or lost, and takes it out of
   * line when it has none left.
   */
  enqueue(prompt: WaitingPrompt): void {
    const waiting = prompt.waiting;
    const item = this.items.get(prompt);
    if (!item) {
      if (waiting > 0) this.add(prompt, waiting);
      return;
    }
    if (waiting <= 0) {
      this.drop(item);
      return;
    }
    const delta = waiting - item.weight;
    if (item.deferredIndex >= 0) {
      const deferred = this.deferred[item.deferredIndex];
      if (delta === 0) this.forget(item);
      else {
        deferred.delta = delta;
        deferred.changedAt = ++this.changes;
      }
      return;
    }
    if (delta === 0) return;
    if (this.limits.deferredCounts <= 0) this.tellNow(item, delta, this.linesHolding(item, []));
    else this.defer(item, delta);
  }

  /** Takes a request out of line (cancelled, expired, or no waiting slot left). */
  remove(prompt: WaitingPrompt): void {
    const item = this.items.get(prompt);
    if (item) this.drop(item);
  }

  /**
   * The best waiting slot the server can serve, started; or, when there is none, how many waiting
   * requests it had to skip, by reason. `priorityUsernames` are served before anyone else.
   */
  take(offer: ServerOffer, now: number, priorityUsernames: ReadonlySet<string> = NO_USERNAMES): QueueMatch {
    const offerLine = this.lineFor(offer);
    let best: QueueItem | undefined;
    for (const username of priorityUsernames) {
      const head = this.bestOfRequester(username, offerLine);
      if (head && (!best || servedFirst(head, best) < 0)) best = head;
    }
    best ??= offerLine.line.first();
    if (!best) return { skipped: { ...offerLine.skipped } };
    const prompt = best.prompt;
    const slot = prompt.startSlot(now);
    this.enqueue(prompt);
    return { prompt, slot };
  }

  /**
   * Where the request stands for servers like `offers` (the active servers able to serve it, one per
   * distinct offer): the slots ahead of its next slot in each offer's line, and the fewest of them.
   * Priority usernames, which differ per server, are not counted.
   */
  standingOf(prompt: WaitingPrompt, offers: readonly ServerOffer[]): QueueStanding {
    const item = this.items.get(prompt);
    if (!item) return { position: 0, ahead: offers.map(() => undefined) };
    const read = ++this.statusReads;
    const lines = offers.map((offer) => {
      if (skipReason(prompt.wishes, offer) !== null) return undefined;
      const offerLine = this.offerLines.get(offerKey(offer));
      if (offerLine && offerLine.askedBy !== read) {
        offerLine.askedBy = read;
        offerLine.deferredAhead = 0;
      }
      return offerLine;
    });
    // Deferred changes of the requests ahead, in the lines asked for: at most `deferredCounts` of them.
    let wholeDeferredAhead = 0;
    for (let i = 0; i < this.deferredCount; i++) {
      const deferred = this.deferred[i];
      if (servedFirst(deferred.item as QueueItem, item) >= 0) continue;
      wholeDeferredAhead += deferred.delta;
      for (const offerLine of deferred.lines) if (offerLine.askedBy === read) offerLine.deferredAhead += deferred.delta;
    }
    let position: number | undefined;
    const ahead = lines.map((offerLine) => {
      if (!offerLine) return undefined;
      const slots = (offerLine.line.slotsAhead(item) as number) + offerLine.deferredAhead;
      if (position === undefined || slots < position) position = slots;
      return slots;
    });
    return { position: position ?? (this.whole.slotsAhead(item) as number) + wholeDeferredAhead, ahead };
  }

  /** {@link standingOf}'s position. */
  positionOf(prompt: WaitingPrompt, offers: readonly ServerOffer[]): number {
    return this.standingOf(prompt, offers).position;
  }

  /** Drops the lines of offers not among `active` (the offers of the servers still active). */
  retainOffers(active: readonly ServerOffer[]): void {
    const keep = new Set(active.map(offerKey));
    for (const offerLine of [...this.offerLines.values()]) if (!keep.has(offerLine.key)) this.dropLine(offerLine);
  }

  /** The offer's line, made (and the least recently popped one dropped past the limit) when it has none. */
  private lineFor(offer: ServerOffer): OfferLine {
    const key = offerKey(offer);
    let offerLine = this.offerLines.get(key);
    if (!offerLine) {
      if (this.offerLines.size >= this.limits.maxOfferLines) this.dropLeastRecentlyPopped();
      offerLine = this.makeLine(key, { model: offer.model, maxLength: offer.maxLength, maxContentLength: offer.maxContentLength });
      this.offerLines.set(key, offerLine);
      for (let i = 0; i < this.deferredCount; i++) {
        const deferred = this.deferred[i];
        if (skipReason((deferred.item as QueueItem).prompt.wishes, offerLine.offer) === null) deferred.lines.push(offerLine);
      }
    }
    offerLine.lastPop = ++this.pops;
    return offerLine;
  }

  /** Reads the whole queue once, in order: O(n). */
  private makeLine(key: string, offer: ServerOffer): OfferLine {
    const servable: QueueItem[] = [];
    const skipped: SkippedCounts = { model: 0, max_content_length: 0, max_length: 0 };
    this.whole.forEach((item) => {
      const reason = skipReason(item.prompt.wishes, offer);
      if (reason === null) servable.push(item);
      else skipped[reason] += 1;
    });
    return new OfferLine(key, offer, ServingLine.fromSorted(servable), skipped);
  }

  private dropLeastRecentlyPopped(): void {
    let oldest: OfferLine | undefined;
    for (const offerLine of this.offerLines.values()) if (!oldest || offerLine.lastPop < oldest.lastPop) oldest = offerLine;
    if (oldest) this.dropLine(oldest);
  }

  private dropLine(offerLine: OfferLine): void {
    this.offerLines.delete(offerLine.key);
    for (let i = 0; i < this.deferredCount; i++) {
      const lines = this.deferred[i].lines;
      const at = lines.indexOf(offerLine);
      if (at >= 0) {
        lines[at] = lines[lines.length - 1];
        lines.pop();
      }
    }
  }

  /** The offer lines that hold the item, into `into`. */
  private linesHolding(item: QueueItem, into: OfferLine[]): OfferLine[] {
    for (const offerLine of this.offerLines.values()) if (skipReason(item.prompt.wishes, offerLine.offer) === null) into.push(offerLine);
    return into;
  }

  /** Tells the lines (the whole queue's and those in `lines`) that the item has `delta` more waiting slots. */
  private tellNow(item: QueueItem, delta: number, lines: readonly OfferLine[]): void {
    this.whole.addWeight(item, delta);
    for (const offerLine of lines) {
      offerLine.line.addWeight(item, delta);
      offerLine.heavyRequesters.get(item.prompt.username)?.addWeight(item, delta);
    }
    item.weight += delta;
  }

  /** Defers telling the lines of a change of the item's slot count; past the limit, tells the least recently changed one. */
  private defer(item: QueueItem, delta: number): void {
    if (this.deferredCount >= this.limits.deferredCounts) {
      let oldest = this.deferred[0];
      for (let i = 1; i < this.deferredCount; i++) if (this.deferred[i].changedAt < oldest.changedAt) oldest = this.deferred[i];
      const told = oldest.item as QueueItem;
      this.tellNow(told, oldest.delta, oldest.lines);
      this.forget(told);
    }
    const index = this.deferredCount++;
    let deferred = this.deferred[index] as DeferredCount | undefined;
    if (!deferred) {
      deferred = { item: null, delta: 0, changedAt: 0, lines: [] };
      this.deferred.push(deferred);
    }
    deferred.item = item;
    deferred.delta = delta;
    deferred.changedAt = ++this.changes;
    this.linesHolding(item, deferred.lines);
    item.deferredIndex = index;
  }

  /** Forgets the item's deferred change (told, cancelled out, or the item left every line). */
  private forget(item: QueueItem): void {
    const index = item.deferredIndex;
    const last = --this.deferredCount;
    const forgotten = this.deferred[index];
    if (index !== last) {
      const moved = this.deferred[last];
      this.deferred[index] = moved;
      this.deferred[last] = forgotten;
      (moved.item as QueueItem).deferredIndex = index;
    }
    forgotten.item = null;
    forgotten.lines.length = 0;
    item.deferredIndex = -1;
  }

  /** The requester's best request the offer can serve. */
  private bestOfRequester(username: string, offerLine: OfferLine): QueueItem | undefined {
    const requester = this.requesters.get(username);
    if (!requester) return undefined;
    if (requester.heavy) {
      let line = offerLine.heavyRequesters.get(username);
      if (!line) {
        const servable = requester.items.filter((item) => skipReason(item.prompt.wishes, offerLine.offer) === null).sort(servedFirst);
        line = ServingLine.fromSorted(servable);
        offerLine.heavyRequesters.set(username, line);
      }
      return line.first();
    }
    let best: QueueItem | undefined;
    for (const item of requester.items) {
      if ((!best || servedFirst(item, best) < 0) && skipReason(item.prompt.wishes, offerLine.offer) === null) best = item;
    }
    return best;
  }

  private add(prompt: WaitingPrompt, waiting: number): void {
    const item: QueueItem = { prompt, weight: waiting, priority: prompt.priority, arrival: prompt.arrival, userIndex: 0, deferredIndex: -1 };
    this.items.set(prompt, item);
    this.whole.insert(item);
    let requester = this.requesters.get(prompt.username);
    if (requester) {
      item.userIndex = requester.items.length;
      requester.items.push(item);
      if (!requester.heavy && requester.items.length > this.limits.heavyRequester) requester.heavy = true;
    } else {
      requester = { items: [item], heavy: false };
      this.requesters.set(prompt.username, requester);
    }
    for (const offerLine of this.offerLines.values()) {
      const reason = skipReason(prompt.wishes, offerLine.offer);
      if (reason !== null) {
        offerLine.skipped[reason] += 1;
        continue;
      }
      offerLine.line.insert(item);
      if (requester.heavy) offerLine.heavyRequesters.get(prompt.username)?.insert(item);
    }
  }

  private drop(item: QueueItem): void {
    const prompt = item.prompt;
    this.items.delete(prompt);
    // The lines count item.weight, the slots they were told: removing it takes exactly that out.
    if (item.deferredIndex >= 0) this.forget(item);
    this.whole.remove(item);
    for (const offerLine of this.offerLines.values()) {
      const reason = skipReason(prompt.wishes, offerLine.offer);
      if (reason !== null) {
        offerLine.skipped[reason] -= 1;
        continue;
      }
      offerLine.line.remove(item);
      offerLine.heavyRequesters.get(prompt.username)?.remove(item);
    }
    const requester = this.requesters.get(prompt.username) as RequesterItems;
    const last = requester.items.pop() as QueueItem;
    if (last !== item) {
      requester.items[item.userIndex] = last;
      last.userIndex = item.userIndex;
    }
    if (requester.heavy && requester.items.length < this.limits.heavyRequester / 2) {
      requester.heavy = false;
      for (const offerLine of this.offerLines.values()) offerLine.heavyRequesters.delete(prompt.username);
    }
    if (requester.items.length === 0) this.requesters.delete(prompt.username);
  }
}
