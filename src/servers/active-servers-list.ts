import { Injectable } from '@nestjs/common';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { AppConfig } from '../config/app-config';
import { ServerDto } from './dto/server.dto';
import { ServersService } from './servers.service';

/**
 * The body of `GET /servers` (the active servers as JSON), built at most once per SERVERS_LIST_CACHE_MS
 * and shared by every caller meanwhile, including those that ask while it is being built: many
 * parallel reads of a long list cost one build, not one each. A server that joins the list or changes
 * its model or limits is listed at once (the copy is rebuilt); stats and last-seen times may be up to
 * SERVERS_LIST_CACHE_MS old, and so may a server that just went stale.
 */
@Injectable()
export class ActiveServersList {
  /** Servers serialized per turn of the event loop, so that a list of 100,000 never blocks it for long. */
  static readonly CHUNK = 2000;
  private cached: { json: Buffer; builtAt: number; version: number } | undefined;
  private building: Promise<Buffer> | undefined;

  constructor(
    private readonly servers: ServersService,
    private readonly config: AppConfig,
  ) {}

  /** The list as UTF-8 JSON bytes, shared as they are by every caller (no copy, no per-request serialization). */
  async json(now = Date.now()): Promise<Buffer> {
    // The version as every instance sees it: a server that joined through another instance is listed at once too.
    const version = await this.servers.listVersion();
    const cached = this.cached;
    if (cached && cached.version === version && now - cached.builtAt < this.config.SERVERS_LIST_CACHE_MS && now >= cached.builtAt) return cached.json;
    this.building ??= this.build(now, version).finally(() => (this.building = undefined));
    return this.building;
  }

  private async build(now: number, version: number): Promise<Buffer> {
    const servers = await this.servers.findActive(now);
    const parts: string[] = [];
    for (let i = 0; i < servers.length; i += ActiveServersList.CHUNK) {
      if (i > 0) await yieldToEventLoop();
      parts.push(
        servers
          .slice(i, i + ActiveServersList.CHUNK)
          .map((server) => JSON.stringify(ServerDto.from(server, true)))
          .join(','),
      );
    }
    const json = Buffer.from(`[${parts.join(',')}]`);
    this.cached = { json, builtAt: now, version };
    return json;
  }
}
