import { Injectable } from '@nestjs/common';
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
  private cached: { json: string; builtAt: number; version: number } | undefined;
  private building: Promise<string> | undefined;

  constructor(
    private readonly servers: ServersService,
    private readonly config: AppConfig,
  ) {}

  json(now = Date.now()): Promise<string> {
    const cached = this.cached;
    if (cached && cached.version === this.servers.listVersion && now - cached.builtAt < this.config.SERVERS_LIST_CACHE_MS && now >= cached.builtAt) return Promise.resolve(cached.json);
    this.building ??= this.build(now).finally(() => (this.building = undefined));
    return this.building;
  }

  private async build(now: number): Promise<string> {
    const version = this.servers.listVersion;
    const servers = await this.servers.findActive(now);
    const json = JSON.stringify(servers.map((server) => ServerDto.from(server, true)));
    this.cached = { json, builtAt: now, version };
    return json;
  }
}
