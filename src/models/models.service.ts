import { Injectable } from '@nestjs/common';
import { ServersService } from '../servers/servers.service';

@Injectable()
export class ModelsService {
  constructor(private readonly servers: ServersService) {}

  /** Model name → number of active servers running it. */
  async countActiveServersByModel(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const server of await this.servers.findActive()) counts[server.model] = (counts[server.model] ?? 0) + 1;
    return counts;
  }
}
