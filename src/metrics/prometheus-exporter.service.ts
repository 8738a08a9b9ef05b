import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { GenerationService } from '../generation/generation.service';
import { QueueSummary } from '../generation/persistence/generation.store';
import { emptyQueueSummary } from '../generation/persistence/queue-summary';
import { ServersService } from '../servers/servers.service';
import { ClusterMetrics } from './cluster-metrics.service';

const PREFIX = 'koboldai_cluster_';

const EMPTY_QUEUE: QueueSummary = emptyQueueSummary();

/**
 * The Prometheus registry of this server (its own, not prom-client's global one): the process metrics
 * of prom-client, the counters of ClusterMetrics, and gauges read from the requests and servers when
 * the registry is scraped. Nothing here runs on a request other than a scrape.
 */
@Injectable()
export class PrometheusExporter {
  readonly registry = new Registry();
  /** The queue as of the current scrape: read once per scrape, for all the queue gauges. */
  private summary: QueueSummary;

  constructor(
    metrics: ClusterMetrics,
    private readonly generation: GenerationService,
    servers: ServersService,
  ) {
    this.summary = EMPTY_QUEUE;
    const queue = (): QueueSummary => this.summary;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    new Counter({
      name: `${PREFIX}pops_total`,
      help: 'Pops (bridges asking for work), by result: served (a generation handed out) or empty (nothing it could serve)',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        this.inc({ result: 'served' }, metrics.popsServed);
        this.inc({ result: 'empty' }, metrics.popsEmpty);
      },
    });
    counter('submits_total', 'Generations handed in and credited', () => metrics.submits);
    counter('tokens_generated_total', 'Tokens generated (handed in), GPT-2 tokens', () => metrics.tokensGenerated);
    counter('tokens_requested_total', 'Tokens asked for: n × max_length of every request made', () => metrics.tokensRequested);
    counter('requests_created_total', 'Requests made (prompt, async and sync)', () => metrics.requestsCreated);
    counter('requests_expired_total', 'Requests deleted after PROMPT_EXPIRY_SECONDS without activity before they were done', () => metrics.requestsExpired);
    counter('generations_restarted_total', 'Generations put back to waiting after their server missed the deadline', () => metrics.generationsRestarted);
    this.registry.registerMetric(metrics.requestDuration);

    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('waiting_requests', 'Requests with at least one generation waiting for a server', () => queue().waiting.requests);
    gauge('waiting_slots', 'Generations waiting for a server', () => queue().waiting.slots);
    gauge('processing_generations', 'Generations handed to a server and not handed in yet', () => queue().processingGenerations);
    gauge('oldest_waiting_request_age_seconds', 'Age of the oldest request with a waiting generation (0 when none waits)', () => {
      const since = queue().oldestWaitingSince;
      return since === null ? 0 : (Date.now() - since) / 1000;
    });
    new Gauge({
      name: `${PREFIX}active_servers`,
      help: 'Servers that popped within STALE_SERVER_SECONDS, by model',
      labelNames: ['model'],
      registers,
      async collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const server of await servers.findActive()) counts.set(server.model, (counts.get(server.model) ?? 0) + 1);
        for (const [model, count] of counts) this.set({ model }, count);
      },
    });
  }

  /** The registry in Prometheus text format. */
  async scrape(): Promise<string> {
    this.summary = await this.generation.summarizeQueue();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
