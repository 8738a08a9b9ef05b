import { BadRequestException, ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import { APP_VERSION } from '../app-version';
import { AppConfig } from '../config/app-config';
import { SkippedCounts } from '../generation/domain/prompt-queue';
import { countTokens } from '../generation/domain/token-counter';
import { CreatePromptDto } from '../generation/dto/create-prompt.dto';
import { DEFAULT_REQUEST_MAX_CONTENT_LENGTH, DEFAULT_REQUEST_MAX_LENGTH, GenerationService, RequestStanding } from '../generation/generation.service';
import { describePerformance, KoboldServer } from '../servers/domain/kobold-server';
import { ClientAddress, ServersService } from '../servers/servers.service';
import { StatusService } from '../status/status.service';
import { ANONYMOUS_API_KEY } from '../users/domain/api-key';
import { ApiKeyHolder, UsersService } from '../users/users.service';
import {
  HordeAsyncResponseDto,
  HordeDeletedWorkerDto,
  HordeGenerationDto,
  HordeHeartbeatDto,
  HordeModelDto,
  HordeModifiedWorkerDto,
  HordePerformanceDto,
  HordePopResponseDto,
  HordeRequestStatusDto,
  HordeSkippedDto,
  HordeSubmitResponseDto,
  HordeUserDto,
  HordeWorkerDto,
} from './dto/horde-responses.dto';
import { HordeModifyWorkerDto, HordeTextPopDto, HordeTextRequestDto, HordeTextSubmitDto } from './dto/horde-requests.dto';

/**
 * What a v2 worker in maintenance is told when it pops: the AI Horde's default maintenance_msg
 * (horde/classes/base/worker.py), answered as its WorkerMaintenance error, a 403 (horde/exceptions.py).
 */
export const WORKER_MAINTENANCE_MESSAGE = 'This worker has been put into maintenance mode by its owner';

/** A worker the status names, once its server is gone from the store (never happens to a server that generated). */
const UNKNOWN_WORKER = { name: 'unknown worker', model: 'unknown' };

/**
 * The AI Horde v2 text API on top of the cluster's own services: one queue, one ledger and one set of
 * servers whichever API a client or worker speaks. Kudos are tokens: a user's kudos are their balance
 * (contributions − usage); a request's kudos are the tokens generated for it; a job's reward is its tokens.
 * A v2 worker is a server owned by the user of its API key, whose password is that key.
 */
@Injectable()
export class HordeService {
  constructor(
    private readonly generation: GenerationService,
    private readonly servers: ServersService,
    private readonly users: UsersService,
    private readonly status: StatusService,
    private readonly config: AppConfig,
  ) {}

  /** The holder of an `apikey` header; no header is the anonymous key. 401 for a key nobody holds. */
  async holderOf(apiKey: string | undefined): Promise<ApiKeyHolder> {
    const holder = await this.users.findApiKeyHolder(apiKey === undefined || apiKey === '' ? ANONYMOUS_API_KEY : apiKey);
    if (!holder) throw new UnauthorizedException('No user holds this API key: register a username with POST /users to get one, or use the anonymous key 0000000000');
    return holder;
  }

  /** Workers must hold a registered account's key: 401 for an unknown key, 403 for the anonymous one. */
  private async workerHolder(apiKey: string | undefined): Promise<ApiKeyHolder & { apiKey: string }> {
    const holder = await this.holderOf(apiKey);
    if (holder.anonymous || apiKey === undefined) {
      throw new ForbiddenException('Anonymous workers are not allowed: register a username with POST /users and pop with its API key');
    }
    return { ...holder, apiKey };
  }

  async createRequest(apiKey: string | undefined, body: HordeTextRequestDto, clientAddress: string): Promise<HordeAsyncResponseDto> {
    const holder = await this.holderOf(apiKey);
    const models = await this.allowedModels(body.models ?? [], body.workers ?? []);
    const dto: CreatePromptDto = { prompt: body.prompt, params: body.params, username: holder.username, models };
    const request = await this.generation.createRequest(dto, clientAddress);
    return { id: request.id, kudos: request.n * request.wishes.maxLength };
  }

  /**
   * The models a request allows. `workers` (KoboldAI Lite's worker picker) narrows them to the models
   * those workers run: the cluster matches requests to workers by model, never by worker.
   */
  private async allowedModels(models: string[], workerIds: string[]): Promise<string[]> {
    if (workerIds.length === 0) return models;
    const workerModels = new Set<string>();
    for (const id of workerIds) {
      const server = await this.servers.getById(id).catch(() => undefined);
      if (server) workerModels.add(server.model);
    }
    if (workerModels.size === 0) throw new BadRequestException(`workers: no worker with any of the ids ${JSON.stringify(workerIds)}`);
    if (models.length === 0) return [...workerModels];
    const both = models.filter((model) => workerModels.has(model));
    if (both.length === 0) throw new BadRequestException(`workers: none of these workers runs any of the models ${JSON.stringify(models)}`);
    return both;
  }

  async requestStatus(id: string): Promise<HordeRequestStatusDto> {
    return this.toStatus(await this.generation.getRequestStanding(id));
  }

  async cancelRequest(id: string): Promise<HordeRequestStatusDto> {
    return this.toStatus(await this.generation.cancelRequest(id));
  }

  private async toStatus({ request, queuePosition, waitTime, isPossible }: RequestStanding): Promise<HordeRequestStatusDto> {
    const texts = request.generations;
    const authors = request.generationAuthors;
    const workers = new Map<string, { name: string; model: string }>();
    for (const { serverId } of authors) {
      if (workers.has(serverId)) continue;
      const server = await this.servers.getById(serverId).catch(() => undefined);
      workers.set(serverId, server ? { name: server.name, model: server.model } : UNKNOWN_WORKER);
    }
    const generations: HordeGenerationDto[] = texts.map((text, i) => {
      const author = authors[i];
      const worker = (author && workers.get(author.serverId)) ?? UNKNOWN_WORKER;
      return { text, seed: 0, worker_id: author?.serverId ?? '', worker_name: worker.name, model: author?.model ?? worker.model, state: 'ok' };
    });
    return {
      finished: texts.length,
      processing: request.processing,
      restarted: request.restarted,
      waiting: request.waiting,
      done: request.done,
      faulted: false,
      wait_time: waitTime ?? 0,
      queue_position: queuePosition,
      kudos: texts.reduce((sum, text) => sum + countTokens(text), 0),
      is_possible: isPossible,
      generations,
    };
  }

  async pop(apiKey: string | undefined, body: HordeTextPopDto, clientAddress: ClientAddress): Promise<HordePopResponseDto> {
    const worker = await this.workerHolder(apiKey);
    const [first, ...others] = body.models;
    let job;
    try {
      job = await this.generation.popJob(
        {
          name: body.name,
          username: worker.username,
          password: worker.apiKey,
          models: [first, ...others],
          maxLength: body.max_length,
          maxContentLength: body.max_context_length,
          priorityUsernames: body.priority_usernames,
        },
        clientAddress,
      );
    } catch (error) {
      if (error instanceof UnauthorizedException) {
        throw new ForbiddenException(`The worker name "${body.name}" is taken by another worker (another API key or a v1 bridge's password): choose another name`);
      }
      throw error;
    }
    // As the AI Horde's pop (horde/apis/v2/base.py, JobPopTemplate.post): a worker in maintenance gets a 403 WorkerMaintenance.
    if (job.id === null && job.inMaintenance) throw new ForbiddenException(WORKER_MAINTENANCE_MESSAGE);
    if (job.id === null) return { id: null, ids: [], skipped: hordeSkipped(job.skipped) };
    const payload = job.payload;
    return {
      id: job.id,
      ids: [job.id],
      payload: {
        ...payload,
        max_length: payload.max_length ?? DEFAULT_REQUEST_MAX_LENGTH,
        max_context_length: payload.max_context_length ?? payload.max_content_length ?? DEFAULT_REQUEST_MAX_CONTENT_LENGTH,
      },
      model: job.model,
      ttl: Math.max(1, Math.ceil((job.deadline - Date.now()) / 1000)),
      skipped: {},
    };
  }

  async submit(apiKey: string | undefined, body: HordeTextSubmitDto, clientAddress: ClientAddress): Promise<HordeSubmitResponseDto> {
    const worker = await this.workerHolder(apiKey);
    try {
      if (body.state === 'faulted') {
        await this.generation.giveUp(body.id, worker.apiKey, clientAddress);
        return { reward: 0 };
      }
      // (null passes the DTO's @IsOptional: refused here as well, before any token is counted.)
      if (typeof body.generation !== 'string') throw new BadRequestException('generation must be a string unless state is "faulted"');
      const { reward } = await this.generation.submit(body.id, worker.apiKey, body.generation, clientAddress);
      return { reward };
    } catch (error) {
      if (error instanceof UnauthorizedException) throw new ForbiddenException(`Generation "${body.id}" was popped by another worker than the workers of this API key`);
      throw error;
    }
  }

  async findUser(apiKey: string | undefined): Promise<HordeUserDto> {
    const holder = await this.holderOf(apiKey);
    const user = await this.users.findByUsername(holder.username);
    const usage = user?.usage ?? 0;
    const contributions = user?.contributions ?? 0;
    const workerIds = holder.anonymous ? [] : (await this.servers.findActive()).filter((server) => server.owner === holder.username).map((server) => server.id);
    return {
      username: holder.username,
      kudos: contributions - usage,
      concurrency: this.config.MAX_WAITING_REQUESTS_PER_USER,
      worker_count: workerIds.length,
      worker_ids: workerIds,
      records: { usage: { tokens: usage }, contribution: { tokens: contributions } },
    };
  }

  async workers(type: string | undefined): Promise<HordeWorkerDto[]> {
    if (type !== undefined && type !== 'text') return [];
    return (await this.servers.findActive()).map((server) => toWorker(server, true));
  }

  async worker(id: string): Promise<HordeWorkerDto> {
    const server = await this.servers.getById(id);
    return toWorker(server, this.servers.isActive(server));
  }

  /**
   * KoboldAI Lite's "my workers" form, as the AI Horde's `PUT /v2/workers/{id}` (horde/apis/v2/base.py,
   * WorkerSingle.put): 404 for an unknown worker, then 401 for an unknown key, 403 unless the key's user
   * owns it (the anonymous key owns nothing); `maintenance` and `info` (at most 1000 characters, as its
   * set_info; '' clears it) change what is sent, and the answer holds what changed. 400 when neither is sent.
   * Unlike the Horde, moderators do not exist here, and a worker in maintenance takes no job at all.
   */
  async modifyWorker(apiKey: string | undefined, id: string, body: HordeModifyWorkerDto): Promise<HordeModifiedWorkerDto> {
    const server = await this.ownedServer(apiKey, id);
    if (body.maintenance === undefined && body.info === undefined) throw new BadRequestException('No worker modification selected: send maintenance, info or both');
    const changed = await this.servers.updateSettings(server.id, { maintenance: body.maintenance, info: body.info });
    const answer: HordeModifiedWorkerDto = {};
    if (body.maintenance !== undefined) answer.maintenance = changed.maintenance;
    if (body.info !== undefined) answer.info = changed.info;
    return answer;
  }

  /**
   * Lite's delete button, as the AI Horde's `DELETE /v2/workers/{id}` (WorkerSingle.delete): the owner's key
   * deletes the worker (its name is free again; the tokens it earned stay its owner's contributions) and is
   * answered `{deleted_id, deleted_name}`; 404, 401 and 403 as for a change.
   */
  async deleteWorker(apiKey: string | undefined, id: string): Promise<HordeDeletedWorkerDto> {
    const server = await this.ownedServer(apiKey, id);
    const deleted = await this.servers.deleteById(server.id);
    return { deleted_id: deleted.id, deleted_name: deleted.name };
  }

  /** The server `id` if the user of `apiKey` owns it: 404 for an unknown id first, as the Horde checks, then 401, then 403. */
  private async ownedServer(apiKey: string | undefined, id: string): Promise<KoboldServer> {
    const server = await this.servers.getById(id);
    const holder = await this.holderOf(apiKey);
    if (holder.anonymous || server.owner !== holder.username) throw new ForbiddenException(`Worker "${id}" is not owned by the user of this API key`);
    return server;
  }

  async models(type: string | undefined): Promise<HordeModelDto[]> {
    if (type !== undefined && type !== 'text') return [];
    const status = await this.status.clusterStatus();
    return status.models
      .filter((model) => model.servers > 0)
      .map((model) => ({
        name: model.name,
        count: model.servers,
        performance: Math.round(status.servers.filter((s) => s.model === model.name).reduce((sum, s) => sum + (s.tokens_per_second ?? 0), 0) * 100) / 100,
        queued: model.waiting_requests,
        jobs: model.waiting_requests,
        eta: 0,
        type: 'text',
      }));
  }

  async performance(): Promise<HordePerformanceDto> {
    const status = await this.status.clusterStatus();
    const workers = status.servers.length;
    return {
      queued_requests: status.queue.waiting_requests,
      queued_text_requests: status.queue.waiting_requests,
      worker_count: workers,
      text_worker_count: workers,
      thread_count: workers,
      text_thread_count: workers,
      queued_tokens: 0,
      past_minute_tokens: status.tokens.last_minute,
      queued_megapixelsteps: 0,
      past_minute_megapixelsteps: 0,
      queued_forms: 0,
      interrogator_count: 0,
      interrogator_thread_count: 0,
    };
  }

  heartbeat(): HordeHeartbeatDto {
    return { message: 'OK', version: APP_VERSION };
  }
}

function hordeSkipped(skipped: SkippedCounts): HordeSkippedDto {
  return { models: skipped.model, max_context_length: skipped.max_content_length, max_length: skipped.max_length };
}

function toWorker(server: KoboldServer, online: boolean): HordeWorkerDto {
  return {
    type: 'text',
    name: server.name,
    id: server.id,
    online,
    requests_fulfilled: server.requestsFulfilled,
    kudos_rewards: server.tokensGenerated,
    kudos_details: { generated: server.tokensGenerated, uptime: 0 },
    performance: describePerformance(server),
    threads: 1,
    uptime: Math.max(0, Math.round((server.lastSeenAt - server.createdAt) / 1000)),
    maintenance_mode: server.maintenance,
    paused: false,
    info: server.info === '' ? null : server.info,
    nsfw: false,
    trusted: false,
    flagged: false,
    uncompleted_jobs: 0,
    models: [server.model],
    max_length: server.maxLength,
    max_context_length: server.maxContentLength,
  };
}
