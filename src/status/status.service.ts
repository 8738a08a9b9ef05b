import { Injectable } from '@nestjs/common';
import { APP_VERSION } from '../app-version';
import { GenerationService } from '../generation/generation.service';
import { ClusterMetrics } from '../metrics/cluster-metrics.service';
import { ServerDto } from '../servers/dto/server.dto';
import { ServersService } from '../servers/servers.service';
import { UsersService } from '../users/users.service';
import { ClusterStatusDto, ModelStatusDto, ThroughputDto } from './dto/cluster-status.dto';

const MINUTE = 60_000;
const TOP_CONTRIBUTORS = 10;
/** However many browsers show the status page, the cluster is read at most once per this many ms. */
const STATUS_CACHE_MS = 1000;

/** The data of the status page: read from the requests, servers and users, at most once a second. */
@Injectable()
export class StatusService {
  private cached?: { at: number; status: Promise<ClusterStatusDto> };

  constructor(
    private readonly generation: GenerationService,
    private readonly servers: ServersService,
    private readonly users: UsersService,
    private readonly metrics: ClusterMetrics,
  ) {}

  clusterStatus(now = Date.now()): Promise<ClusterStatusDto> {
    if (this.cached && now - this.cached.at < STATUS_CACHE_MS && now >= this.cached.at) return this.cached.status;
    const status = this.readClusterStatus(now);
    this.cached = { at: now, status };
    status.catch(() => (this.cached = undefined));
    return status;
  }

  throughput(now = Date.now()): ThroughputDto {
    return { minutes: this.metrics.throughput.perMinute(now).map((point) => ({ start: new Date(point.start).toISOString(), tokens: point.tokens })) };
  }

  private async readClusterStatus(now: number): Promise<ClusterStatusDto> {
    const queue = await this.generation.summarizeQueue();
    const active = await this.servers.findActive(now);
    const contributions = await this.users.contributionsByUsername();

    const models = new Map<string, ModelStatusDto>();
    const model = (name: string): ModelStatusDto => {
      let entry = models.get(name);
      if (!entry) models.set(name, (entry = { name, servers: 0, waiting_requests: 0 }));
      return entry;
    };
    for (const server of active) model(server.model).servers += 1;
    for (const [name, count] of queue.waitingByModel) model(name).waiting_requests = count.requests;

    const servers = active.map((server) => ({ ...ServerDto.from(server, true), owner: server.owner }));
    servers.sort((a, b) => (b.tokens_per_second ?? -1) - (a.tokens_per_second ?? -1) || a.name.localeCompare(b.name));

    return {
      generated_at: new Date(now).toISOString(),
      version: APP_VERSION,
      queue: {
        waiting_requests: queue.waiting.requests,
        waiting_slots: queue.waiting.slots,
        waiting_for_any_model: queue.waitingForAnyModel.requests,
        processing_generations: queue.processingGenerations,
        oldest_wait_seconds: queue.oldestWaitingSince === null ? null : Math.max(0, Math.round((now - queue.oldestWaitingSince) / 1000)),
      },
      tokens: {
        last_minute: this.metrics.throughput.tokensInLast(MINUTE, now),
        last_hour: this.metrics.throughput.tokensInLast(60 * MINUTE, now),
        since_start: this.metrics.tokensGenerated,
      },
      servers,
      models: [...models.values()].sort((a, b) => b.servers - a.servers || b.waiting_requests - a.waiting_requests || a.name.localeCompare(b.name)),
      top_contributors: Object.entries(contributions)
        .map(([username, tokens]) => ({ username, contributions: tokens }))
        .sort((a, b) => b.contributions - a.contributions || a.username.localeCompare(b.username))
        .slice(0, TOP_CONTRIBUTORS),
    };
  }
}
