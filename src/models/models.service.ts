import { Injectable } from '@nestjs/common';
import { ServersService } from '../servers/servers.service';

@Injectable()
export class ModelsService {
  constructor(private readonly servers: ServersService) {}

  /** Model name → number of active servers running it. */
  async countActiveServersByModel(): Promise<Record<string, number>> {
    // A Map, not an object: a model named `constructor` or `__proto__` must not meet Object.prototype.
    const counts = new Map<string, number>();
    for (const server of await this.servers.findActive()) counts.set(server.model, (counts.get(server.model) ?? 0) + 1);
    return Object.fromEntries(counts);
  }
}
