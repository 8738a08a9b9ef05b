import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../config/app-config';
import { ServersService } from '../servers/servers.service';
import { GenerationService } from './generation.service';

/**
 * The one scheduled task: every SWEEP_INTERVAL_SECONDS it puts back generations whose server missed
 * its deadline, expires idle requests, notes servers
 * that went stale, forgets servers that never generated anything (FORGET_UNUSED_SERVERS_HOURS) and drops
 * the queue's lines of offers no active server makes. No timer, thread or interval per object.
 */
@Injectable()
export class ClusterSweeper implements OnModuleInit {
  static readonly INTERVAL_NAME = 'cluster-sweep';
  /** Requests expired per turn of the event loop, so a sweep that expires 100k of them never blocks it for long. */
  static readonly EXPIRY_BATCH = 2000;
  private readonly logger = new Logger(ClusterSweeper.name);

  constructor(
    private readonly generation: GenerationService,
    private readonly servers: ServersService,
    private readonly scheduler: SchedulerRegistry,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const timer = setInterval(() => void this.sweep(), this.config.SWEEP_INTERVAL_SECONDS * 1000);
    timer.unref();
    this.scheduler.addInterval(ClusterSweeper.INTERVAL_NAME, timer);
  }

  async sweep(now = Date.now()): Promise<void> {
    try {
      await this.generation.restartOverdue(now);
      while ((await this.generation.expireIdle(now, ClusterSweeper.EXPIRY_BATCH)) === ClusterSweeper.EXPIRY_BATCH) await yieldToEventLoop();
      await this.servers.sweepStale(now);
      await this.servers.forgetUnused(now);
      await this.generation.retireInactiveOffers(now);
    } catch (error) {
      this.logger.error(`Sweep failed: ${(error as Error).stack ?? String(error)}`);
    }
  }
}
