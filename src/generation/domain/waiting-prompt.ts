import { GenerationSlot, ProcessingGeneration } from './processing-generation';

/** What a request asks of the server that generates for it. */
export interface PromptWishes {
  /** Models allowed to serve the request; empty means any model. */
  models: readonly string[];
  /** Tokens to generate. */
  maxLength: number;
  /** Context size, in tokens, the request needs. */
  maxContentLength: number;
}

/**
 * Hands out one shared, frozen PromptWishes object per distinct value, so the many waiting requests
 * that want the same thing hold one object between them instead of one each; and, when every request
 * names its own selection of models, one string per model name instead of one per request and name.
 * Bounded: past `limit` distinct values (or names) it starts over (requests keep what they have).
 */
export class WishesInterner {
  private readonly known = new Map<string, PromptWishes>();
  private readonly names = new Map<string, string>();

  constructor(private readonly limit = 10_000) {}

  intern(wishes: PromptWishes): PromptWishes {
    const key = `${wishes.maxLength}|${wishes.maxContentLength}|${JSON.stringify(wishes.models)}`;
    let shared = this.known.get(key);
    if (!shared) {
      if (this.known.size >= this.limit) this.known.clear();
      const models = Object.freeze(wishes.models.map((model) => this.name(model)));
      shared = Object.freeze({ models, maxLength: wishes.maxLength, maxContentLength: wishes.maxContentLength });
      this.known.set(key, shared);
    }
    return shared;
  }

  private name(model: string): string {
    const shared = this.names.get(model);
    if (shared !== undefined) return shared;
    if (this.names.size >= this.limit) this.names.clear();
    this.names.set(model, model);
    return model;
  }
}

export interface NewWaitingPrompt {
  id: string;
  prompt: string;
  /** KoboldAI generation parameters without `n`: they reach the worker untouched. */
  params: Record<string, unknown>;
  username: string;
  /** Who the per-requester limit counts this request for: the username, or for anonymous requests their address. */
  requesterKey?: string;
  wishes: PromptWishes;
  n: number;
  now: number;
  /** Standing in line, fixed at creation: higher is served first (see the fair-share rule). */
  priority?: number;
}

/** Arrival order of requests in this process, the tie-breaker between requests of equal priority. */
let nextArrival = 0;

const NO_GENERATIONS: readonly string[] = Object.freeze([]);

/** Who made one of a request's texts: the server, and the model it popped the slot for. */
export interface GenerationAuthor {
  serverId: string;
  model: string;
}

/** Why a submitted text was not taken. */
export type SubmitRefusal = 'already-submitted' | 'slot-complete';

/**
 * A client's request for `n` generations of one prompt. Its `n` slots are handed out one per pop, so
 * several servers can fill it in parallel. A slot whose server misses its deadline goes back to
 * waiting, ahead of the request's untouched slots. Every slot yields exactly one generation.
 * Held in memory only; never written to disk.
 */
export class WaitingPrompt {
  readonly id: string;
  readonly prompt: string;
  readonly params: Record<string, unknown>;
  readonly username: string;
  readonly requesterKey: string;
  readonly wishes: PromptWishes;
  readonly n: number;
  readonly priority: number;
  /** Made after every request with a lower number: older requests go first among equal priorities. */
  readonly arrival = nextArrival++;
  readonly createdAt: number;
  lastActivityAt: number;
  /** Slots in progress. */
  processing = 0;
  /** Slots put back after a missed deadline, so far. */
  restarted = 0;
  cancelled = false;
  /** Slots no server has taken yet. */
  private untouched: number;
  /**
   * The texts so far, and the slots put back after a missed deadline and not taken again yet (served
   * first). Both are made on first use: most requests wait with neither, and there may be 100,000 of them.
   */
  private texts?: string[];
  /** Who made each text, in the same order (the v2 API's worker_id, worker_name and model). */
  private authors?: GenerationAuthor[];
  private putBack?: GenerationSlot[];

  constructor(init: NewWaitingPrompt) {
    this.id = init.id;
    this.prompt = init.prompt;
    this.params = init.params;
    this.username = init.username;
    this.requesterKey = init.requesterKey ?? init.username;
    this.wishes = init.wishes;
    this.n = init.n;
    this.priority = init.priority ?? 0;
    this.createdAt = init.now;
    this.lastActivityAt = init.now;
    this.untouched = init.n;
  }

  /** The generated texts so far, in the order they arrived. */
  get generations(): readonly string[] {
    return this.texts ?? NO_GENERATIONS;
  }

  /** Who made each of the texts of `generations`, in the same order. */
  get generationAuthors(): readonly GenerationAuthor[] {
    return this.authors ?? [];
  }

  /** Slots waiting for a server. */
  get waiting(): number {
    return this.untouched + (this.putBack?.length ?? 0);
  }

  get finished(): number {
    return this.texts?.length ?? 0;
  }

  /** No generation is waiting or in progress: every slot is finished, or the rest was cancelled. */
  get done(): boolean {
    return this.waiting === 0 && this.processing === 0;
  }

  /** Hands a waiting slot (a put-back one first) to a server. */
  startSlot(now: number): GenerationSlot {
    let slot = this.putBack?.shift();
    if (!slot) {
      if (this.untouched <= 0) throw new Error(`Request ${this.id} has no waiting slot`);
      slot = { index: this.n - this.untouched, state: 'waiting' };
      this.untouched -= 1;
    }
    slot.state = 'processing';
    this.processing += 1;
    this.lastActivityAt = now;
    return slot;
  }

  /** Records which attempt now works on the slot. */
  assign(generation: ProcessingGeneration): void {
    generation.slot.attemptId = generation.id;
  }

  /**
   * The attempt missed its deadline: its slot goes back to waiting (if that attempt is still the one
   * working on it). Returns whether the slot was put back.
   */
  putBackOverdue(generation: ProcessingGeneration): boolean {
    if (generation.state !== 'processing') return false;
    generation.state = 'overdue';
    const slot = generation.slot;
    if (slot.state !== 'processing' || slot.attemptId !== generation.id) return false;
    this.processing -= 1;
    this.restarted += 1;
    if (this.cancelled) {
      slot.state = 'dropped';
      return false;
    }
    slot.state = 'waiting';
    slot.attemptId = undefined;
    (this.putBack ??= []).push(slot);
    return true;
  }

  /**
   * Takes an attempt's text. A late text from an overdue attempt still completes its slot if the slot
   * is not complete yet (the redo, if any, is then superseded). Returns why it was refused, or null.
   */
  finishSlot(generation: ProcessingGeneration, text: string, now: number): SubmitRefusal | null {
    if (generation.state === 'submitted') return 'already-submitted';
    const slot = generation.slot;
    if (generation.state === 'superseded' || slot.state === 'finished') return 'slot-complete';
    if (slot.state === 'processing') {
      this.processing -= 1;
    } else if (slot.state === 'waiting' && this.putBack) {
      this.putBack.splice(this.putBack.indexOf(slot), 1);
    }
    // A dropped slot (request cancelled after a missed deadline) still takes the text: the work was done.
    slot.state = 'finished';
    generation.state = 'submitted';
    (this.texts ??= []).push(text);
    (this.authors ??= []).push({ serverId: generation.serverId, model: generation.model });
    this.lastActivityAt = now;
    return null;
  }

  /** Drops the waiting slots; slots in progress still finish and are still credited. */
  cancel(): void {
    this.cancelled = true;
    this.untouched = 0;
    for (const slot of this.putBack ?? []) slot.state = 'dropped';
    this.putBack = undefined;
  }

  /** The body a worker sends to KoboldAI's api/latest/generate. */
  payload(): Record<string, unknown> {
    return { ...this.params, prompt: this.prompt, n: 1 };
  }
}
