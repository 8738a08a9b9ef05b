import {
  BadRequestException,
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { ClusterMetrics } from '../metrics/cluster-metrics.service';
import { KoboldServer, tokensPerSecond } from '../servers/domain/kobold-server';
import { CheckIn, ClientAddress, ServersService, WRONG_SERVER_PASSWORD } from '../servers/servers.service';
import { ANONYMOUS } from '../users/domain/user';
import { offerKey, ServerOffer, skipReason, SkippedCounts, SkipReason } from './domain/prompt-queue';
import { countTokens } from './domain/token-counter';
import { PromptWishes } from './domain/waiting-prompt';
import { CreatePromptDto } from './dto/create-prompt.dto';
import { PopRequestDto } from './dto/pop-request.dto';
import { FairShare } from './fair-share';
import { GenerationStore, QueueSummary, RequestRecord, ServerPopOutcome } from './persistence/generation.store';
import { SyncCompletions } from './sync-completions';

export const DEFAULT_REQUEST_MAX_LENGTH = 80;
export const DEFAULT_REQUEST_MAX_CONTENT_LENGTH = 1024;
export const DEFAULT_SERVER_MAX_LENGTH = 512;
export const DEFAULT_SERVER_MAX_CONTENT_LENGTH = 2048;

/** Where a request stands: its place in line, a wait estimate, and whether anyone can serve it. */
export interface RequestStanding {
  request: RequestRecord;
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
export type PopJob = { id: string; payload: Record<string, unknown>; model: string; deadline: number } | { id: null; skipped: SkippedCounts; inMaintenance?: true };

/** Store steps a pop makes at most before giving up on a name that keeps changing hands (a 503). */
const POP_ATTEMPTS = 3;

/** The skipped counts of a pop that looked at no request (its server is in maintenance). */
const NOTHING_SKIPPED: SkippedCounts = { model: 0, max_content_length: 0, max_length: 0 };

const SKIP_EXPLANATIONS: Record<SkipReason, (wishes: PromptWishes) => string> = {
  model: (w) => `none runs any of the models ${JSON.stringify(w.models)}`,
  max_content_length: (w) => `none accepts a context of ${w.maxContentLength} tokens`,
  max_length: (w) => `none generates ${w.maxLength} tokens`,
};

@Injectable()
export class GenerationService {
  private readonly logger = new Logger(GenerationService.name);

  constructor(
    private readonly store: GenerationStore,
    private readonly servers: ServersService,
    private readonly fairShare: FairShare,
    private readonly syncCompletions: SyncCompletions,
    private readonly config: AppConfig,
    private readonly metrics: ClusterMetrics,
  ) {}

  /**
   * Queues a request for `n` generations and returns it. `clientAddress` tells anonymous requesters
   * apart for the per-user limit.
   */
  async createRequest(dto: CreatePromptDto, clientAddress = 'unknown', now = Date.now(), notifyWhenSettled = false): Promise<RequestRecord> {
    this.assertWithinLimits(dto);
    const { n = 1, ...params } = dto.params ?? {};
    const username = dto.username ?? ANONYMOUS;
    const requesterKey = username === ANONYMOUS ? `${ANONYMOUS}@${clientAddress}` : username;
    const limit = this.config.MAX_WAITING_REQUESTS_PER_USER;
    // Checked first so that a requester over the limit costs no read of their balance; enqueue checks again, atomically.
    if ((await this.store.countUnfinishedByRequester(requesterKey)) >= limit) throw this.overRequestLimit(username);
    const priority = await this.fairShare.priorityFor(username, now);
    const id = randomUUID();
    const wishes = wishesOf(dto);
    const queued = await this.store.enqueue({ id, prompt: dto.prompt, params, username, requesterKey, wishes, n, priority, now, notifyWhenSettled }, limit);
    if (queued === 'over-limit') throw this.overRequestLimit(username);
    this.metrics.requestCreated(n, wishes.maxLength);
    return {
      id,
      username,
      requesterKey,
      wishes,
      n,
      createdAt: now,
      lastActivityAt: now,
      waiting: n,
      processing: 0,
      restarted: 0,
      cancelled: false,
      generations: [],
      generationAuthors: [],
      done: n === 0,
    };
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

  /** 429: the requester already has MAX_WAITING_REQUESTS_PER_USER unfinished requests. */
  private overRequestLimit(username: string): HttpException {
    return new HttpException(
      `${username} already has ${this.config.MAX_WAITING_REQUESTS_PER_USER} unfinished requests (MAX_WAITING_REQUESTS_PER_USER); wait for one to finish or cancel one`,
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }

  /** A request by id; 404 when unknown or expired. Reading it does not keep it alive. */
  async getRequest(id: string): Promise<RequestRecord> {
    const request = await this.store.findRequest(id);
    if (!request) throw this.unknownRequest(id);
    return request;
  }

  /** A request with its place in line, a wait estimate and whether an active server can serve it. */
  async getRequestStanding(id: string): Promise<RequestStanding> {
    const active = await this.servers.activeSnapshot();
    const serving = notInMaintenance(active);
    const kinds = serverKinds(serving);
    const standing = await this.store.findStanding(
      id,
      kinds.map((kind) => kind.offer),
    );
    if (!standing) throw this.unknownRequest(id);
    const { request, ahead, position: queuePosition } = standing;
    const isPossible = request.done || serving.some((server) => skipReason(request.wishes, server) === null);
    let waitTime: number | null = null;
    if (request.done) {
      waitTime = 0;
    } else if (isPossible) {
      // The soonest any one kind of capable server, at its measured speed, gets through its line ahead of
      // the request and the request's own slots (see PromptQueue: why per kind, not a union).
      for (const [i, { offer, speed }] of kinds.entries()) {
        if (speed <= 0 || skipReason(request.wishes, offer) !== null) continue;
        const slotsToGo = (ahead[i] ?? queuePosition) + request.waiting + request.processing;
        const seconds = Math.ceil((slotsToGo * request.wishes.maxLength) / speed);
        if (waitTime === null || seconds < waitTime) waitTime = seconds;
      }
    }
    return { request, queuePosition, waitTime, isPossible, impossibleReason: isPossible ? null : explainNoServer(request.wishes, active) };
  }

  /**
   * Creates a request and resolves with its `n` generations once it is done (see SyncCompletions).
   * 503 at once when no active server could serve it; 504 if it expires first; aborting (the client
   * went away) cancels it.
   */
  async generateSync(dto: CreatePromptDto, clientAddress?: string, signal?: AbortSignal): Promise<string[]> {
    this.assertWithinLimits(dto);
    const wishes = wishesOf(dto);
    const reason = await this.whyNoServerCanServe(wishes);
    if (reason) throw new ServiceUnavailableException(`No active server can serve this request: ${reason}`);
    // Every instance is told when it settles: the submit that completes it may come through another one.
    const request = await this.createRequest(dto, clientAddress, Date.now(), true);
    return this.syncCompletions.waitFor(request.id, signal);
  }

  /**
   * A bridge asks for work (from `clientAddress`, by which new names and wrong passwords are budgeted):
   * checks the server in, then hands it a slot of the best request it can serve.
   */
  async pop(dto: PopRequestDto, clientAddress: ClientAddress = () => 'unknown'): Promise<PopResult> {
    const job = await this.popJob(
      { name: dto.name, username: dto.username, password: dto.password, models: [dto.model], maxLength: dto.max_length, maxContentLength: dto.max_content_length, priorityUsernames: dto.priority_usernames },
      clientAddress,
    );
    return job.id === null ? { id: null, skipped: job.skipped } : { id: job.id, payload: job.payload };
  }

  /**
   * The pop of either API: checks the server in with its first model, then tries its models in order and
   * hands out a slot of the first request one of them can serve; with nothing to do, the skipped counts
   * of all its models merged (see mergeSkipped). One store step (GenerationStore.popFor) when this
   * instance has verified the password for the name before; otherwise the password is verified (or the
   * name registered) first, and remembered.
   */
  async popJob(request: PopJobRequest, clientAddress: ClientAddress = () => 'unknown'): Promise<PopJob> {
    const checkIn: CheckIn = {
      name: request.name,
      username: request.username,
      password: request.password,
      model: request.models[0],
      maxLength: request.maxLength ?? DEFAULT_SERVER_MAX_LENGTH,
      maxContentLength: request.maxContentLength ?? DEFAULT_SERVER_MAX_CONTENT_LENGTH,
      clientAddress,
    };
    for (let attempt = 0; attempt < POP_ATTEMPTS; attempt++) {
      const now = Date.now();
      const proven = this.servers.provenCheckIn(checkIn, now);
      if (proven) {
        const popped = await this.store.popFor({
          name: request.name,
          ...proven,
          models: request.models,
          priorityUsernames: request.priorityUsernames ?? [],
          generationId: randomUUID(),
          deadline: this.config,
        });
        if (popped) {
          await this.servers.checkedIn(popped.server, proven.update, now);
          return this.jobOf(popped);
        }
        // The name's password hash is no longer the one verified here (deleted and registered again): verify again.
        this.servers.forgetVerified(request.name);
      }
      // Verifies the password against the server (401; 429 after too many wrong ones) or registers the name; remembered.
      await this.servers.checkIn(checkIn, now);
    }
    throw new ServiceUnavailableException(`Server name "${request.name}" changed hands while it was checking in; try again`);
  }

  private jobOf(popped: ServerPopOutcome): PopJob {
    if ('inMaintenance' in popped) {
      // Checked in (it stays listed, with maintenance_mode), but handed nothing until its owner ends maintenance.
      this.metrics.popped(false);
      return { id: null, skipped: { ...NOTHING_SKIPPED }, inMaintenance: true };
    }
    if ('skipped' in popped) {
      this.metrics.popped(false);
      return { id: null, skipped: popped.skipped.reduce(mergeSkipped) };
    }
    this.metrics.popped(true);
    const { started, model } = popped;
    return { id: started.generationId, payload: started.payload, model, deadline: started.deadline };
  }

  /**
   * A worker gives a popped generation up (the v2 API's `state: "faulted"`): its slot goes back to
   * waiting at once, as after a missed deadline, and nothing is credited (GenerationStore.abandon). 401
   * when `password` is not the password of the server that took it; 400 once it was submitted; nothing
   * changes when it had already missed its deadline or another attempt completed its slot.
   */
  async giveUp(id: string, password: string, clientAddress: ClientAddress = () => 'unknown'): Promise<void> {
    const generation = await this.store.findGeneration(id);
    if (!generation) throw this.unknownGeneration(id);
    await this.servers.authenticate(generation.serverId, password, clientAddress);
    const result = await this.store.abandon(id, Date.now());
    switch (result.outcome) {
      case 'unknown':
        throw this.unknownGeneration(id);
      case 'already-submitted':
        throw new BadRequestException(`Generation "${id}" was already submitted`);
      case 'put-back':
        this.metrics.restarted(1);
    }
  }

  /**
   * A bridge hands in a finished generation; credits its tokens and completes the slot. A late text
   * from a server that missed its deadline still completes the slot if nobody else has.
   *
   * One store step when this instance has seen the password proven for the generation's server before
   * (a pop's check-in or an earlier submit: ServersService.serversProvenBy); otherwise the store answers
   * 'unproven' without any change, the password is checked against the server (401/429 as on a pop; the
   * proof is then remembered) and the submit is made again for that server.
   */
  async submit(id: string, password: string, text: string, clientAddress: ClientAddress = () => 'unknown'): Promise<SubmitResult> {
    const reward = countTokens(text);
    const now = Date.now();
    let result = await this.store.submit({ generationId: id, text, now, tokens: reward, provenServerIds: this.servers.serversProvenBy(password) });
    if (result.outcome === 'unproven') {
      await this.servers.authenticate(result.serverId, password, clientAddress);
      result = await this.store.submit({ generationId: id, text, now, tokens: reward, provenServerIds: [result.serverId] });
      // The server was deleted in between: as authenticate answers for a server that does not exist.
      if (result.outcome === 'unproven') throw new UnauthorizedException(WRONG_SERVER_PASSWORD);
    }
    switch (result.outcome) {
      case 'unknown':
        throw this.unknownGeneration(id);
      case 'already-submitted':
        throw new BadRequestException(`Generation "${id}" was already submitted`);
      case 'slot-complete':
        throw new NotFoundException(`Generation "${id}" is no longer needed: another server completed its slot after this one missed its deadline`);
    }
    this.metrics.submitted(reward, now);
    if (result.completedRequest && !result.request.cancelled) this.metrics.requestCompleted(result.request.createdAt, now);
    return result.request.cancelled ? { reward, cancelled: true } : { reward };
  }

  /** Cancels a request: its waiting slots are dropped; slots in progress still finish and are credited. */
  async cancelRequest(id: string): Promise<RequestStanding> {
    const request = await this.store.cancel(id, Date.now());
    if (!request) throw this.unknownRequest(id);
    return this.getRequestStanding(id);
  }

  /** Run by the scheduled sweep: slots whose server missed its deadline go back to waiting. */
  async restartOverdue(now = Date.now()): Promise<number> {
    const restarted = await this.store.restartOverdue(now);
    this.metrics.restarted(restarted);
    if (restarted > 0) this.logger.log(`Put ${restarted} generation(s) back to waiting after their server missed the deadline`);
    return restarted;
  }

  /** Run by the scheduled sweep: the queue forgets its lines for offers no active server makes any more. */
  async retireInactiveOffers(now = Date.now()): Promise<void> {
    await this.store.retainOffers(await this.servers.findActive(now));
  }

  /**
   * Run by the scheduled sweep: deletes requests idle for PROMPT_EXPIRY_SECONDS, with their generations,
   * the longest idle first and at most `limit` of them (the sweep yields to the event loop between
   * batches). Their held sync calls answer 504 (SyncCompletions). Answers how many were deleted.
   */
  async expireIdle(now = Date.now(), limit = Infinity): Promise<number> {
    const expired = await this.store.expireIdle(now - this.config.PROMPT_EXPIRY_SECONDS * 1000, limit);
    const unserved = expired.filter((request) => !request.done).length;
    if (unserved > 0) this.metrics.expired(unserved);
    if (expired.length > 0) this.logger.log(`Expired ${expired.length} idle request(s)`);
    return expired.length;
  }

  /** The requests in flight at a glance (reads every request: for metrics scrapes and the status page, cached there). */
  summarizeQueue(): Promise<QueueSummary> {
    return this.store.summarize();
  }

  /** Why no active server could serve these wishes, or null when one can. */
  private async whyNoServerCanServe(wishes: PromptWishes): Promise<string | null> {
    const active = await this.servers.findActive();
    return notInMaintenance(active).some((server) => skipReason(wishes, server) === null) ? null : explainNoServer(wishes, active);
  }

  private unknownRequest(id: string): NotFoundException {
    return new NotFoundException(`No request with id "${id}": it never existed or expired after ${this.config.PROMPT_EXPIRY_SECONDS}s without activity`);
  }

  private unknownGeneration(id: string): NotFoundException {
    return new NotFoundException(`No processing generation with id "${id}": it never existed, or its request expired`);
  }
}

/** The servers that may be handed jobs: a server its owner put in maintenance gets none. */
function notInMaintenance(active: readonly KoboldServer[]): KoboldServer[] {
  return active.filter((server) => !server.maintenance);
}

/** Why none of the active servers (those in maintenance get no jobs) can serve these wishes. */
function explainNoServer(wishes: PromptWishes, active: readonly KoboldServer[]): string {
  if (active.length === 0) return 'no server is active';
  const serving = notInMaintenance(active);
  const inMaintenance = active.length - serving.length;
  const maintenance = inMaintenance > 0 ? `${inMaintenance} active server(s) are in maintenance` : '';
  if (serving.length === 0) return maintenance;
  const reasons = new Set<SkipReason>();
  for (const server of serving) reasons.add(skipReason(wishes, server) as SkipReason);
  return `of ${serving.length} active server(s)${maintenance ? ` not in maintenance` : ''}, ${[...reasons].map((r) => SKIP_EXPLANATIONS[r](wishes)).join(', ')}${maintenance ? `; ${maintenance}` : ''}`;
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

/**
 * The skipped counts of one pop over several models (each model's counts are by first reason: model,
 * then context, then length; the context and length reasons do not depend on the model). A request
 * wanting none of the models is skipped for `model` by every one of them, so the fewest `model` skips
 * bound those requests from above; a request some model may serve but that is too long for the
 * server is counted under context or length by that model, so the most of those bound them from
 * below. With one model: its counts.
 */
export function mergeSkipped(a: SkippedCounts, b: SkippedCounts): SkippedCounts {
  return {
    model: Math.min(a.model, b.model),
    max_content_length: Math.max(a.max_content_length, b.max_content_length),
    max_length: Math.max(a.max_length, b.max_length),
  };
}

function wishesOf(dto: CreatePromptDto): PromptWishes {
  const params = dto.params ?? {};
  return {
    models: (dto.models ?? []).filter((model) => model.length > 0),
    maxLength: params.max_length ?? DEFAULT_REQUEST_MAX_LENGTH,
    maxContentLength: params.max_content_length ?? params.max_context_length ?? DEFAULT_REQUEST_MAX_CONTENT_LENGTH,
  };
}
