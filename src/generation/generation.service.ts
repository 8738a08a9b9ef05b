import {
  BadRequestException,
  BeforeApplicationShutdown,
  GatewayTimeoutException,
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { ClusterMetrics } from '../metrics/cluster-metrics.service';
import { KoboldServer, tokensPerSecond } from '../servers/domain/kobold-server';
import { ClientAddress, ServersService } from '../servers/servers.service';
import { ANONYMOUS } from '../users/domain/user';
import { UsersService } from '../users/users.service';
import { ProcessingGeneration } from './domain/processing-generation';
import { offerKey, ServerOffer, skipReason, SkippedCounts, SkipReason } from './domain/prompt-queue';
import { countTokens } from './domain/token-counter';
import { PromptWishes, WaitingPrompt, WishesInterner } from './domain/waiting-prompt';
import { CreatePromptDto } from './dto/create-prompt.dto';
import { PopRequestDto } from './dto/pop-request.dto';
import { QueueSummary, WaitingPromptRepository } from './persistence/waiting-prompt.repository';

export const DEFAULT_REQUEST_MAX_LENGTH = 80;
export const DEFAULT_REQUEST_MAX_CONTENT_LENGTH = 1024;
export const DEFAULT_SERVER_MAX_LENGTH = 512;
export const DEFAULT_SERVER_MAX_CONTENT_LENGTH = 2048;

/** Where a request stands: its place in line, a wait estimate, and whether anyone can serve it. */
export interface RequestStanding {
  prompt: WaitingPrompt;
  queuePosition: number;
  waitTime: number | null;
  isPossible: boolean;
  impossibleReason: string | null;
}

export interface SubmitResult {
  reward: number;
  /** Present when the request was cancelled while this generation was in progress. */
  cancelled?: true;
}

export type PopResult = { id: string; payload: Record<string, unknown> } | { id: null; skipped: SkippedCounts };

/** A worker asking for work, whichever API it speaks: the v1 pop body, or a v2 worker's (several models). */
export interface PopJobRequest {
  name: string;
  username: string;
  password: string;
  /** The models offered, tried in this order; the first is the one the server is checked in (and listed) with. */
  models: readonly [string, ...string[]];
  maxLength?: number | null;
  maxContentLength?: number | null;
  priorityUsernames?: readonly string[] | null;
}

/** What a pop hands out: a slot to generate (with the model it was taken for and its deadline), or the skipped counts. */
export type PopJob = { server: KoboldServer } & (
  | { id: string; payload: Record<string, unknown>; model: string; deadline: number }
  | { id: null; skipped: SkippedCounts }
);

interface SyncWaiter {
  resolve: (generations: string[]) => void;
  reject: (error: HttpException) => void;
}

const SKIP_EXPLANATIONS: Record<SkipReason, (wishes: PromptWishes) => string> = {
  model: (w) => `none runs any of the models ${JSON.stringify(w.models)}`,
  max_content_length: (w) => `none accepts a context of ${w.maxContentLength} tokens`,
  max_length: (w) => `none generates ${w.maxLength} tokens`,
};

@Injectable()
export class GenerationService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(GenerationService.name);
  private readonly syncWaiters = new Map<string, SyncWaiter>();
  /** Waiting requests with the same wishes share one object: they are many, their wishes are few. */
  private readonly wishes = new WishesInterner();

  constructor(
    private readonly prompts: WaitingPromptRepository,
    private readonly servers: ServersService,
    private readonly users: UsersService,
    private readonly config: AppConfig,
    private readonly metrics: ClusterMetrics,
  ) {}

  /**
   * Queues a request for `n` generations and returns it. `clientAddress` tells anonymous requesters
   * apart for the per-user limit.
   */
  async createRequest(dto: CreatePromptDto, clientAddress = 'unknown', now = Date.now()): Promise<WaitingPrompt> {
    this.assertWithinLimits(dto);
    const { n = 1, ...params } = dto.params ?? {};
    const username = dto.username ?? ANONYMOUS;
    const requesterKey = username === ANONYMOUS ? `${ANONYMOUS}@${clientAddress}` : username;
    this.assertUnderRequestLimit(username, requesterKey);
    const priority = await this.priorityFor(username, now);
    // Checked again: another request of the same requester may have been added meanwhile.
    this.assertUnderRequestLimit(username, requesterKey);
    const prompt = new WaitingPrompt({ id: randomUUID(), prompt: dto.prompt, params, username, requesterKey, wishes: this.wishes.intern(wishesOf(dto)), n, now, priority });
    this.prompts.add(prompt);
    this.metrics.requestCreated(n, prompt.wishes.maxLength);
    return prompt;
  }

  /**
   * The limits of a request's size, whichever route it came by: the prompt's length, `n`, and the size
   * of `params`, which is kept with the request and sent to every worker that serves it (413).
   */
  private assertWithinLimits(dto: CreatePromptDto): void {
    if (dto.prompt.length > this.config.MAX_PROMPT_CHARS) {
      throw new BadRequestException(`prompt is ${dto.prompt.length} characters long; the limit is MAX_PROMPT_CHARS (${this.config.MAX_PROMPT_CHARS})`);
    }
    if ((dto.params?.n ?? 1) > this.config.MAX_N) throw new BadRequestException(`params.n must not be greater than MAX_N (${this.config.MAX_N})`);
    if (dto.params) {
      const bytes = Buffer.byteLength(JSON.stringify(dto.params));
      if (bytes > this.config.MAX_PARAMS_BYTES) {
        throw new PayloadTooLargeException(`params is ${bytes} bytes long as JSON; the limit is MAX_PARAMS_BYTES (${this.config.MAX_PARAMS_BYTES})`);
      }
    }
  }

  /** 429 when the requester already has MAX_WAITING_REQUESTS_PER_USER unfinished requests. */
  private assertUnderRequestLimit(username: string, requesterKey: string): void {
    const limit = this.config.MAX_WAITING_REQUESTS_PER_USER;
    if (this.prompts.countUnfinishedByRequester(requesterKey) < limit) return;
    throw new HttpException(
      `${username} already has ${limit} unfinished requests (MAX_WAITING_REQUESTS_PER_USER); wait for one to finish or cancel one`,
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }

  /** A request by id; 404 when unknown or expired. Reading it does not keep it alive. */
  getRequest(id: string): WaitingPrompt {
    const prompt = this.prompts.findById(id);
    if (!prompt) throw new NotFoundException(`No request with id "${id}": it never existed or expired after ${this.config.PROMPT_EXPIRY_SECONDS}s without activity`);
    return prompt;
  }

  /** A request with its place in line, a wait estimate and whether an active server can serve it. */
  async getRequestStanding(id: string): Promise<RequestStanding> {
    const prompt = this.getRequest(id);
    const active = await this.servers.findActive();
    const capable = active.filter((server) => skipReason(prompt.wishes, server) === null);
    const isPossible = prompt.done || capable.length > 0;
    const kinds = serverKinds(capable);
    const standing = prompt.waiting > 0 ? this.prompts.standingInLine(prompt, kinds.map((kind) => kind.offer)) : undefined;
    const queuePosition = standing?.position ?? 0;
    let waitTime: number | null = null;
    if (prompt.done) {
      waitTime = 0;
    } else if (isPossible) {
      // The soonest any one kind of capable server, at its measured speed, gets through its line ahead of
      // the request and the request's own slots (see PromptQueue: why per kind, not a union).
      for (const [i, { speed }] of kinds.entries()) {
        if (speed <= 0) continue;
        const slotsToGo = (standing?.ahead[i] ?? queuePosition) + prompt.waiting + prompt.processing;
        const seconds = Math.ceil((slotsToGo * prompt.wishes.maxLength) / speed);
        if (waitTime === null || seconds < waitTime) waitTime = seconds;
      }
    }
    return { prompt, queuePosition, waitTime, isPossible, impossibleReason: isPossible ? null : explainNoServer(prompt.wishes, active) };
  }

  /**
   * Creates a request and resolves with its `n` generations when the submit that completes it arrives.
   * 503 at once when no active server could serve it; 504 if it expires first; aborting (the client
   * went away) cancels it.
   */
  async generateSync(dto: CreatePromptDto, clientAddress?: string, signal?: AbortSignal): Promise<string[]> {
    this.assertWithinLimits(dto);
    const wishes = wishesOf(dto);
    const reason = await this.whyNoServerCanServe(wishes);
    if (reason) throw new ServiceUnavailableException(`No active server can serve this request: ${reason}`);
    const prompt = await this.createRequest(dto, clientAddress);
    return new Promise<string[]>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.syncWaiters.delete(prompt.id)) return;
        prompt.cancel();
        this.prompts.refresh(prompt);
        reject(new BadRequestException('The client closed the connection; the request was cancelled'));
      };
      this.syncWaiters.set(prompt.id, {
        resolve: (generations) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(generations);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * A bridge asks for work (from `clientAddress`, by which new names and wrong passwords are budgeted):
   * checks the server in, then hands it a slot of the oldest request it can serve.
   */
  async pop(dto: PopRequestDto, clientAddress: ClientAddress = () => 'unknown'): Promise<PopResult> {
    const job = await this.popJob(
      { name: dto.name, username: dto.username, password: dto.password, models: [dto.model], maxLength: dto.max_length, maxContentLength: dto.max_content_length, priorityUsernames: dto.priority_usernames },
      clientAddress,
    );
    return job.id === null ? { id: null, skipped: job.skipped } : { id: job.id, payload: job.payload };
  }

  /**
   * The pop of either API: checks the server in with its first model, then tries its models in order
   * and hands out a slot of the first request one of them can serve. With nothing to do, the skipped
   * counts are those of the first model's offer.
   */
  async popJob(request: PopJobRequest, clientAddress: ClientAddress = () => 'unknown'): Promise<PopJob> {
    const maxLength = request.maxLength ?? DEFAULT_SERVER_MAX_LENGTH;
    const maxContentLength = request.maxContentLength ?? DEFAULT_SERVER_MAX_CONTENT_LENGTH;
    const server = await this.servers.checkIn({
      model: request.models[0],
      maxLength,
      maxContentLength,
      name: request.name,
      username: request.username,
      password: request.password,
      clientAddress,
    });
    const now = Date.now();
    const priorityUsernames = new Set([server.owner, ...(request.priorityUsernames ?? [])]);
    let skipped: SkippedCounts | undefined;
    for (const model of request.models) {
      const match = this.prompts.takeNextFor({ model, maxLength, maxContentLength }, now, priorityUsernames);
      if (!match.prompt) {
        skipped ??= match.skipped;
        continue;
      }
      this.metrics.popped(true);
      const generation: ProcessingGeneration = {
        id: randomUUID(),
        promptId: match.prompt.id,
        serverId: server.id,
        model,
        slot: match.slot,
        startedAt: now,
        deadline: this.deadlineFor(match.prompt, server, now),
        state: 'processing',
      };
      match.prompt.assign(generation);
      this.prompts.addProcessing(generation);
      return { server, id: generation.id, payload: match.prompt.payload(), model, deadline: generation.deadline };
    }
    this.metrics.popped(false);
    return { server, id: null, skipped: skipped as SkippedCounts };
  }

  /**
   * A worker gives a popped generation up (the v2 API's `state: "faulted"`): its slot goes back to
   * waiting at once, as after a missed deadline, and nothing is credited. 401 when `password` is not
   * the password of the server that took it; 400 once it was submitted.
   */
  async giveUp(id: string, password: string, clientAddress: ClientAddress = () => 'unknown'): Promise<void> {
    const generation = this.prompts.findProcessingById(id);
    if (!generation) throw this.unknownGeneration(id);
    await this.servers.authenticate(generation.serverId, password, clientAddress);
    if (generation.state === 'submitted') throw new BadRequestException(`Generation "${id}" was already submitted`);
    const prompt = this.prompts.findById(generation.promptId);
    if (!prompt) throw this.unknownGeneration(id);
    if (prompt.putBackOverdue(generation)) this.metrics.restarted(1);
    this.afterChange(prompt);
  }

  /**
   * A bridge hands in a finished generation; credits its tokens and completes the slot. A late text
   * from a server that missed its deadline still completes the slot if nobody else has.
   */
  async submit(id: string, password: string, text: string, clientAddress: ClientAddress = () => 'unknown'): Promise<SubmitResult> {
    const generation = this.prompts.findProcessingById(id);
    if (!generation) throw this.unknownGeneration(id);
    const server = await this.servers.authenticate(generation.serverId, password, clientAddress);
    const prompt = this.prompts.findById(generation.promptId);
    if (!prompt || this.prompts.findProcessingById(id) !== generation) throw this.unknownGeneration(id);
    // Counted before any state changes, so nothing is completed without being credited.
    const reward = countTokens(text);
    const now = Date.now();
    const wasDone = prompt.done;
    const refusal = prompt.finishSlot(generation, text, now);
    if (refusal === 'already-submitted') throw new BadRequestException(`Generation "${id}" was already submitted`);
    if (refusal === 'slot-complete') {
      throw new NotFoundException(`Generation "${id}" is no longer needed: another server completed its slot after this one missed its deadline`);
    }
    this.prompts.touch(prompt, now);
    this.metrics.submitted(reward, now);
    if (!wasDone && prompt.done && !prompt.cancelled) this.metrics.requestCompleted(prompt.createdAt, now);
    this.afterChange(prompt);
    await this.servers.recordJob(server.id, { tokens: reward, seconds: (now - generation.startedAt) / 1000 });
    await this.users.recordGeneration(prompt.username, server.owner, reward);
    return prompt.cancelled ? { reward, cancelled: true } : { reward };
  }

  /** Cancels a request: its waiting slots are dropped; slots in progress still finish and are credited. */
  cancelRequest(id: string): Promise<RequestStanding> {
    const prompt = this.getRequest(id);
    prompt.cancel();
    this.afterChange(prompt);
    return this.getRequestStanding(id);
  }

  /** Run by the scheduled sweep: slots whose server missed its deadline go back to waiting. */
  restartOverdue(now = Date.now()): number {
    let restarted = 0;
    for (const generation of this.prompts.findOverdue(now)) {
      const prompt = this.prompts.findById(generation.promptId);
      if (!prompt) continue;
      if (prompt.putBackOverdue(generation)) restarted += 1;
      this.afterChange(prompt);
    }
    this.metrics.restarted(restarted);
    if (restarted > 0) this.logger.log(`Put ${restarted} generation(s) back to waiting after their server missed the deadline`);
    return restarted;
  }

  /** Run by the scheduled sweep: the queue forgets its lines for offers no active server makes any more. */
  async retireInactiveOffers(now = Date.now()): Promise<void> {
    this.prompts.retainOffers(await this.servers.findActive(now));
  }

  /**
   * Run by the scheduled sweep: deletes requests idle for PROMPT_EXPIRY_SECONDS, with their generations,
   * the longest idle first and at most `limit` of them (the sweep yields to the event loop between batches).
   */
  expireIdle(now = Date.now(), limit = Infinity): number {
    const idle = this.prompts.findIdleSince(now - this.config.PROMPT_EXPIRY_SECONDS * 1000, limit);
    for (const prompt of idle) {
      if (!prompt.done) this.metrics.expired(1);
      this.prompts.delete(prompt);
      this.settleSync(prompt.id, (waiter) =>
        waiter.reject(new GatewayTimeoutException(`The request expired after ${this.config.PROMPT_EXPIRY_SECONDS}s without activity before all its generations were done`)),
      );
    }
    if (idle.length > 0) this.logger.log(`Expired ${idle.length} idle request(s)`);
    return idle.length;
  }

  /** The requests in flight at a glance (reads every request: for metrics scrapes and the status page, cached there). */
  summarizeQueue(): QueueSummary {
    return this.prompts.summarize();
  }

  /** Keeps the indexes in step with a changed request, and answers its sync caller once it is done. */
  private afterChange(prompt: WaitingPrompt): void {
    this.prompts.refresh(prompt);
    if (prompt.done) this.settleSync(prompt.id, (waiter) => waiter.resolve([...prompt.generations]));
  }

  /**
   * When a popped generation goes back to waiting: long enough for the server to generate the wished
   * tokens at its measured speed, with a safety factor; never sooner than the minimum, never after the
   * request would expire.
   */
  private deadlineFor(prompt: WaitingPrompt, server: KoboldServer, now: number): number {
    const speed = tokensPerSecond(server);
    const expected = speed ? (prompt.wishes.maxLength / speed) * this.config.GENERATION_TIMEOUT_SAFETY_FACTOR : 0;
    const seconds = Math.max(this.config.GENERATION_TIMEOUT_MIN_SECONDS, expected);
    return Math.min(now + seconds * 1000, prompt.lastActivityAt + this.config.PROMPT_EXPIRY_SECONDS * 1000);
  }

  /**
   * Before the HTTP server closes (it waits for open requests): answers every waiting /generate/sync with
   * a 503 and cancels its request, instead of holding the shutdown until the request expires.
   */
  beforeApplicationShutdown(): void {
    for (const promptId of [...this.syncWaiters.keys()]) {
      const prompt = this.prompts.findById(promptId);
      if (prompt) {
        prompt.cancel();
        this.prompts.refresh(prompt);
      }
      this.settleSync(promptId, (waiter) => waiter.reject(new ServiceUnavailableException('The server is shutting down; send the request again in a moment')));
    }
  }

  private settleSync(promptId: string, settle: (waiter: SyncWaiter) => void): void {
    const waiter = this.syncWaiters.get(promptId);
    if (!waiter) return;
    this.syncWaiters.delete(promptId);
    settle(waiter);
  }

  /** Why no active server could serve these wishes, or null when one can. */
  private async whyNoServerCanServe(wishes: PromptWishes): Promise<string | null> {
    const active = await this.servers.findActive();
    return active.some((server) => skipReason(wishes, server) === null) ? null : explainNoServer(wishes, active);
  }

  /**
   * Fair share: a request's standing is its requester's balance (contributions − usage, clamped to
   * ±FAIR_SHARE_BALANCE_CAP) plus FAIR_SHARE_AGING_PER_SECOND for every second it waits. The aging
   * term grows alike for every waiting request, so the order is that of balance − aging × creation
   * time, fixed when the request is made.
   */
  private async priorityFor(username: string, now: number): Promise<number> {
    const user = await this.users.findByUsername(username);
    const cap = this.config.FAIR_SHARE_BALANCE_CAP;
    const balance = user ? user.contributions - user.usage : 0;
    return Math.max(-cap, Math.min(cap, balance)) - (this.config.FAIR_SHARE_AGING_PER_SECOND * now) / 1000;
  }

  private unknownGeneration(id: string): NotFoundException {
    return new NotFoundException(`No processing generation with id "${id}": it never existed, or its request expired`);
  }
}

/** Why none of the active servers can serve these wishes. */
function explainNoServer(wishes: PromptWishes, active: readonly ServerOffer[]): string {
  if (active.length === 0) return 'no server is active';
  const reasons = new Set<SkipReason>();
  for (const server of active) reasons.add(skipReason(wishes, server) as SkipReason);
  return `of ${active.length} active server(s), ${[...reasons].map((r) => SKIP_EXPLANATIONS[r](wishes)).join(', ')}`;
}

/** One kind per distinct offer (model, max_length, max_content_length) among the servers, with their summed measured speed. */
function serverKinds(servers: readonly KoboldServer[]): { offer: ServerOffer; speed: number }[] {
  const kinds = new Map<string, { offer: ServerOffer; speed: number }>();
  for (const server of servers) {
    const key = offerKey(server);
    let kind = kinds.get(key);
    if (!kind) {
      kind = { offer: { model: server.model, maxLength: server.maxLength, maxContentLength: server.maxContentLength }, speed: 0 };
      kinds.set(key, kind);
    }
    kind.speed += tokensPerSecond(server) ?? 0;
  }
  return [...kinds.values()];
}

function wishesOf(dto: CreatePromptDto): PromptWishes {
  const params = dto.params ?? {};
  return {
    models: (dto.models ?? []).filter((model) => model.length > 0),
    maxLength: params.max_length ?? DEFAULT_REQUEST_MAX_LENGTH,
    maxContentLength: params.max_content_length ?? params.max_context_length ?? DEFAULT_REQUEST_MAX_CONTENT_LENGTH,
  };
}
