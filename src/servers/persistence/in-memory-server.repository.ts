import { Injectable, OnModuleInit } from '@nestjs/common';
import { SnapshotFile } from '../../common/persistence/snapshot-file';
import { Snapshotting, SnapshotService } from '../../common/persistence/snapshot.service';
import { AppConfig } from '../../config/app-config';
import { KoboldServer, recordJob, ServerJob } from '../domain/kobold-server';
import { CheckInUpdate, ServerRepository } from './server.repository';

interface ServersSnapshot {
  version: 1;
  servers: KoboldServer[];
}

function isServer(s: unknown): s is KoboldServer {
  if (typeof s !== 'object' || s === null) return false;
  const v = s as KoboldServer;
  return (
    typeof v.id === 'string' &&
    typeof v.name === 'string' &&
    typeof v.owner === 'string' &&
    typeof v.passwordHash === 'string' &&
    typeof v.model === 'string' &&
    [v.maxLength, v.maxContentLength, v.tokensGenerated, v.requestsFulfilled, v.createdAt, v.lastSeenAt].every(Number.isFinite) &&
    Array.isArray(v.recentJobs)
  );
}

function isServersSnapshot(data: unknown): data is ServersSnapshot {
  if (typeof data !== 'object' || data === null) return false;
  const servers = (data as ServersSnapshot).servers;
  return Array.isArray(servers) && servers.every(isServer);
}

function copy(server: KoboldServer): KoboldServer {
  return { ...server, recentJobs: server.recentJobs.map((j) => ({ ...j })) };
}

@Injectable()
export class InMemoryServerRepository extends ServerRepository implements OnModuleInit, Snapshotting {
  readonly snapshotName = 'servers';
  private readonly byId = new Map<string, KoboldServer>();
  private readonly idByName = new Map<string, string>();
  private readonly file: SnapshotFile<ServersSnapshot>;

  constructor(config: AppConfig, snapshots: SnapshotService) {
    super();
    this.file = new SnapshotFile(config.DATA_DIR, 'servers.json', isServersSnapshot);
    snapshots.register(this);
  }

  onModuleInit(): void {
    for (const server of this.file.read()?.servers ?? []) this.put(copy(server));
  }

  flushSnapshot(): void {
    this.file.flush(() => ({ version: 1, servers: [...this.byId.values()] }));
  }

  findById(id: string): Promise<KoboldServer | undefined> {
    const server = this.byId.get(id);
    return Promise.resolve(server && copy(server));
  }

  findByName(name: string): Promise<KoboldServer | undefined> {
    const id = this.idByName.get(name);
    return this.findById(id ?? '');
  }

  findSeenSince(since: number): Promise<KoboldServer[]> {
    const result: KoboldServer[] = [];
    for (const server of this.byId.values()) if (server.lastSeenAt > since) result.push(copy(server));
    return Promise.resolve(result);
  }

  create(server: KoboldServer): Promise<KoboldServer> {
    const existing = this.idByName.get(server.name);
    if (existing !== undefined) return this.findById(existing) as Promise<KoboldServer>;
    this.put(copy(server));
    this.file.markChanged();
    return Promise.resolve(copy(server));
  }

  updateCheckIn(id: string, update: CheckInUpdate): Promise<KoboldServer | undefined> {
    const server = this.byId.get(id);
    if (!server) return Promise.resolve(undefined);
    Object.assign(server, update);
    this.file.markChanged();
    return Promise.resolve(copy(server));
  }

  addJob(id: string, job: ServerJob): Promise<KoboldServer | undefined> {
    const server = this.byId.get(id);
    if (!server) return Promise.resolve(undefined);
    recordJob(server, job);
    this.file.markChanged();
    return Promise.resolve(copy(server));
  }

  private put(server: KoboldServer): void {
    this.byId.set(server.id, server);
    this.idByName.set(server.name, server.id);
  }
}
