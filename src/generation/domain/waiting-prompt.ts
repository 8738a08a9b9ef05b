/** What a request asks of the server that generates for it. */
export interface PromptWishes {
  /** Models allowed to serve the request; empty means any model. */
  models: readonly string[];
  /** Tokens to generate. */
  maxLength: number;
  /** Context size, in tokens, the request needs. */
  maxContentLength: number;
}

export interface NewWaitingPrompt {
  id: string;
  prompt: string;
  /** KoboldAI generation parameters without `n`: they reach the worker untouched. */
  params: Record<string, unknown>;
  username: string;
  wishes: PromptWishes;
  n: number;
  now: number;
}

/**
 * A client's request for `n` generations of one prompt. Its `n` slots are handed out one per pop, so
 * several servers can fill it in parallel. Held in memory only; never written to disk.
 */
export class WaitingPrompt {
  readonly id: string;
  readonly prompt: string;
  readonly params: Record<string, unknown>;
  readonly username: string;
  readonly wishes: PromptWishes;
  readonly n: number;
  readonly createdAt: number;
  lastActivityAt: number;
  /** Slots not handed to any server yet. */
  waiting: number;
  /** Slots a server is working on. */
  processing = 0;
  readonly generations: string[] = [];
  cancelled = false;

  constructor(init: NewWaitingPrompt) {
    this.id = init.id;
    this.prompt = init.prompt;
    this.params = init.params;
    this.username = init.username;
    this.wishes = init.wishes;
    this.n = init.n;
    this.createdAt = init.now;
    this.lastActivityAt = init.now;
    this.waiting = init.n;
  }

  get finished(): number {
    return this.generations.length;
  }

  /** No generation is waiting or in progress: every slot is finished, or the rest was cancelled. */
  get done(): boolean {
    return this.waiting === 0 && this.processing === 0;
  }

  /** Hands one waiting slot to a server. */
  startSlot(now: number): void {
    if (this.waiting <= 0) throw new Error(`Request ${this.id} has no waiting slot`);
    this.waiting -= 1;
    this.processing += 1;
    this.lastActivityAt = now;
  }

  finishSlot(generation: string, now: number): void {
    if (this.processing <= 0) throw new Error(`Request ${this.id} has no slot in progress`);
    this.processing -= 1;
    this.generations.push(generation);
    this.lastActivityAt = now;
  }

  /** Drops the waiting slots; slots in progress still finish and are still credited. */
  cancel(): void {
    this.cancelled = true;
    this.waiting = 0;
  }

  /** The body a worker sends to KoboldAI's api/latest/generate. */
  payload(): Record<string, unknown> {
    return { ...this.params, prompt: this.prompt, n: 1 };
  }
}
