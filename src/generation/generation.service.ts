import {
  BadRequestException,
  BeforeApplicationShutdown,
  GatewayTimeoutException,
  HttpException,
  Injectable,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { ServersService } from '../servers/servers.service';
import { ANONYMOUS } from '../users/domain/user';
import { UsersService } from '../users/users.service';
import { ProcessingGeneration } from './domain/processing-generation';
import { skipReason, SkippedCounts, SkipReason } from './domain/prompt-queue';
import { countTokens } from './domain/token-counter';
import { PromptWishes, WaitingPrompt } from './domain/waiting-prompt';
import { CreatePromptDto } from './dto/create-prompt.dto';
import { PopRequestDto } from './dto/pop-request.dto';
import { WaitingPromptRepository } from './persistence/waiting-prompt.repository';

export const DEFAULT_REQUEST_MAX_LENGTH = 80;
export const DEFAULT_REQUEST_MAX_CONTENT_LENGTH = 1024;
export const DEFAULT_SERVER_MAX_LENGTH = 512;
export const DEFAULT_SERVER_MAX_CONTENT_LENGTH = 2048;

export type PopResult = { id: string; payload: Record<string, unknown> } | { id: null; skipped: SkippedCounts };

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

  constructor(
    private readonly prompts: WaitingPromptRepository,
    private readonly servers: ServersService,
    private readonly users: UsersService,
    private readonly config: AppConfig,
  ) {}

  /** Queues a request for `n` generations and returns it. */
  createRequest(dto: CreatePromptDto, now = Date.now()): WaitingPrompt {
    if (dto.prompt.length > this.config.MAX_PROMPT_CHARS) {
      throw new BadRequestException(`prompt is ${dto.prompt.length} characters long; the limit is MAX_PROMPT_CHARS (${this.config.MAX_PROMPT_CHARS})`);
    }
    const { n = 1, ...params } = dto.params ?? {};
    if (n > this.config.MAX_N) throw new BadRequestException(`params.n must not be greater than MAX_N (${this.config.MAX_N})`);
    const prompt = new WaitingPrompt({
      id: randomUUID(),
      prompt: dto.prompt,
      params,
      username: dto.username ?? ANONYMOUS,
      wishes: wishesOf(dto),
      n,
      now,
    });
    this.prompts.add(prompt);
    return prompt;
  }

  /** A request by id; 404 when unknown or expired. Reading it does not keep it alive. */
  getRequest(id: string): WaitingPrompt {
    const prompt = this.prompts.findById(id);
    if (!prompt) throw new NotFoundException(`No request with id "${id}": it never existed or expired after ${this.config.PROMPT_EXPIRY_SECONDS}s without activity`);
    return prompt;
  }

  /**
   * Creates a request and resolves with its `n` generations when the submit that completes it arrives.
   * 503 at once when no active server could serve it; 504 if it expires first; aborting (the client
   * went away) cancels it.
   */
  async generateSync(dto: CreatePromptDto, signal?: AbortSignal): Promise<string[]> {
    const wishes = wishesOf(dto);
    const reason = await this.whyNoServerCanServe(wishes);
    if (reason) throw new ServiceUnavailableException(`No active server can serve this request: ${reason}`);
    const prompt = this.createRequest(dto);
    return new Promise<string[]>((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.syncWaiters.delete(prompt.id)) return;
        this.cancel(prompt);
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

  /** A bridge asks for work: checks the server in, then hands it a slot of the oldest request it can serve. */
  async pop(dto: PopRequestDto): Promise<PopResult> {
    const offer = {
      model: dto.model,
      maxLength: dto.max_length ?? DEFAULT_SERVER_MAX_LENGTH,
      maxContentLength: dto.max_content_length ?? DEFAULT_SERVER_MAX_CONTENT_LENGTH,
    };
    const server = await this.servers.checkIn({ ...offer, name: dto.name, username: dto.username, password: dto.password });
    const now = Date.now();
    const match = this.prompts.takeNextFor(offer, now);
    if (!match.prompt) return { id: null, skipped: match.skipped };
    const generation: ProcessingGeneration = {
      id: randomUUID(),
      promptId: match.prompt.id,
      serverId: server.id,
      startedAt: now,
      submitted: false,
    };
    this.prompts.addProcessing(generation);
    return { id: generation.id, payload: match.prompt.payload() };
  }

  /** A bridge hands in a finished generation; credits its tokens and completes the slot. */
  async submit(id: string, password: string, text: string): Promise<{ reward: number }> {
    const generation = this.prompts.findProcessingById(id);
    if (!generation) throw this.unknownGeneration(id);
    const server = await this.servers.authenticate(generation.serverId, password);
    const prompt = this.prompts.findById(generation.promptId);
    if (!prompt || this.prompts.findProcessingById(id) !== generation) throw this.unknownGeneration(id);
    if (generation.submitted) throw new BadRequestException(`Generation "${id}" was already submitted`);
    // Counted before any state changes, so nothing is completed without being credited.
    const reward = countTokens(text);
    generation.submitted = true;
    const now = Date.now();
    prompt.finishSlot(text, now);
    this.prompts.touch(prompt, now);
    if (prompt.done) this.settleSync(prompt.id, (waiter) => waiter.resolve([...prompt.generations]));
    await this.servers.recordJob(server.id, { tokens: reward, seconds: (now - generation.startedAt) / 1000 });
    await this.users.recordGeneration(prompt.username, server.owner, reward);
    return { reward };
  }

  /** Run by the scheduled sweep: deletes requests idle for PROMPT_EXPIRY_SECONDS, with their generations. */
  expireIdle(now = Date.now()): number {
    const idle = this.prompts.findIdleSince(now - this.config.PROMPT_EXPIRY_SECONDS * 1000);
    for (const prompt of idle) {
      this.prompts.delete(prompt);
      this.settleSync(prompt.id, (waiter) =>
        waiter.reject(new GatewayTimeoutException(`The request expired after ${this.config.PROMPT_EXPIRY_SECONDS}s without activity before all its generations were done`)),
      );
    }
    if (idle.length > 0) this.logger.log(`Expired ${idle.length} idle request(s)`);
    return idle.length;
  }

  /**
   * Before the HTTP server closes (it waits for open requests): answers every waiting /generate/sync with
   * a 503 and cancels its request, instead of holding the shutdown until the request expires.
   */
  beforeApplicationShutdown(): void {
    for (const promptId of [...this.syncWaiters.keys()]) {
      const prompt = this.prompts.findById(promptId);
      if (prompt) this.cancel(prompt);
      this.settleSync(promptId, (waiter) => waiter.reject(new ServiceUnavailableException('The server is shutting down; send the request again in a moment')));
    }
  }

  private cancel(prompt: WaitingPrompt): void {
    prompt.cancel();
    this.prompts.removeFromQueue(prompt);
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
    if (active.length === 0) return 'no server is active';
    const reasons = new Set<SkipReason>();
    for (const server of active) {
      const reason = skipReason(wishes, server);
      if (reason === null) return null;
      reasons.add(reason);
    }
    return `of ${active.length} active server(s), ${[...reasons].map((r) => SKIP_EXPLANATIONS[r](wishes)).join(', ')}`;
  }

  private unknownGeneration(id: string): NotFoundException {
    return new NotFoundException(`No processing generation with id "${id}": it never existed, or its request expired`);
  }
}

function wishesOf(dto: CreatePromptDto): PromptWishes {
  const params = dto.params ?? {};
  return {
    models: (dto.models ?? []).filter((model) => model.length > 0),
    maxLength: params.max_length ?? DEFAULT_REQUEST_MAX_LENGTH,
    maxContentLength: params.max_content_length ?? params.max_context_length ?? DEFAULT_REQUEST_MAX_CONTENT_LENGTH,
  };
}
