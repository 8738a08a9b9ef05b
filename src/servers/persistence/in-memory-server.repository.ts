import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Check, checkFields, checkSnapshot, integerBetween, isRecord, name, positiveNumber, timestamp, tokenCount } from '../../common/persistence/record-checks';
import { Snapshotting, SnapshotService } from '../../common/persistence/snapshot.service';
import { StoreFiles } from '../../common/persistence/store-files';
import { AppConfig } from '../../config/app-config';
import { KoboldServer, MAX_SERVER_INFO_CHARS, PERFORMANCE_WINDOW, recordJob, ServerJob, ServerSettings } from '../domain/kobold-server';
import { isValidScryptHash } from '../domain/password-hasher';
import { CheckInOutcome, CheckInUpdate, ServerRepository } from './server.repository';

interface ServersSnapshot {
  version: 1;
  /** The last journal entry this snapshot holds. */
  journalSeq?: number;
  servers: KoboldServer[];
}

/**
 * One journal line: a server created, checked in with new details, credited with a job, given new settings
 * by its owner, or forgotten (unused, or deleted by its owner).
 */
type ServerChange =
  | { op: 'create'; server: KoboldServer }
  | ({ op: 'checkin'; id: string } & CheckInUpdate)
  | ({ op: 'job'; id: string } & ServerJob)
  | ({ op: 'settings'; id: string } & ServerSettings)
  | { op: 'forget'; id: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const uuid: Check = (value) => (typeof value === 'string' && UUID.test(value) ? null : 'is not a uuid');
const tokenLimit = integerBetween(1, 1_000_000_000);
const jobSeconds = positiveNumber(1e9);
const CAPABILITY_FIELDS = { owner: name, model: name, maxLength: tokenLimit, maxContentLength: tokenLimit, lastSeenAt: timestamp };
/** Absent in what was written before servers had settings (read as false and ''). */
const optionalBoolean: Check = (value) => (value === undefined || typeof value === 'boolean' ? null : 'is not true or false');
const optionalInfo: Check = (value) =>
  value === undefined || (typeof value === 'string' && value.length <= MAX_SERVER_INFO_CHARS) ? null : `is not a string of at most ${MAX_SERVER_INFO_CHARS} characters`;
const SETTINGS_FIELDS = { maintenance: optionalBoolean, info: optionalInfo };

function checkServer(server: unknown, path: string): string | null {
  const problem = checkFields(server, path, {
    id: uuid,
    name,
    passwordHash: (value) => (isValidScryptHash(value) ? null : 'is not a valid scrypt hash'),
    ...CAPABILITY_FIELDS,
    tokensGenerated: tokenCount,
    requestsFulfilled: tokenCount,
    createdAt: timestamp,
    ...SETTINGS_FIELDS,
    recentJobs: (value) => (Array.isArray(value) && value.length <= PERFORMANCE_WINDOW ? null : `is not an array of at most ${PERFORMANCE_WINDOW} jobs`),
  });
  if (problem !== null) return problem;
  const jobs = (server as KoboldServer).recentJobs;
  for (let i = 0; i < jobs.length; i++) {
    const jobProblem = checkFields(jobs[i], `${path}.recentJobs[${i}]`, { tokens: tokenCount, seconds: jobSeconds });
    if (jobProblem !== null) return jobProblem;
  }
  return null;
}

function checkServersSnapshot(data: unknown): string | null {
  return checkSnapshot(data, 'servers', checkServer, ['id', 'name']);
}

function checkServerChange(entry: Record<string, unknown>): string | null {
  switch (entry.op) {
    case 'create':
      return isRecord(entry.server) ? checkServer(entry.server, 'server') : 'server is not a JSON object';
    case 'checkin':
      return checkFields(entry, '', { id: uuid, ...CAPABILITY_FIELDS });
    case 'job':
      return checkFields(entry, '', { id: uuid, tokens: tokenCount, seconds: jobSeconds });
    case 'settings':
      return checkFields(entry, '', { id: uuid, ...SETTINGS_FIELDS });
    case 'forget':
      return checkFields(entry, '', { id: uuid });
    default:
      return `op ${JSON.stringify(entry.op)} is not one of create, checkin, job, settings, forget`;
  }
}

function copy(server: KoboldServer): KoboldServer {
  return { ...server, recentJobs: server.recentJobs.map((j) => ({ ...j })) };
}

/** A server as read from disk: one written before servers had settings has none (not in maintenance, no info). */
function loaded(server: KoboldServer): KoboldServer {
  return { ...copy(server), maintenance: server.maintenance ?? false, info: server.info ?? '' };
}

function applySettings(server: KoboldServer, settings: ServerSettings): void {
  if (settings.maintenance !== undefined) server.maintenance = settings.maintenance;
  if (settings.info !== undefined) server.info = settings.info;
}

/**
 * Servers in memory, saved to servers.json every SNAPSHOT_INTERVAL_SECONDS and at shutdown. Every change
 * that matters after a crash is also appended to servers.journal: a new server is written and fdatasynced
 * before `create` resolves (so before its first pop is answered); jobs and changed details go with the
 * group commit. The journal is replayed over the snapshot at start and emptied when a snapshot is written.
 */
@Injectable()
export class InMemoryServerRepository extends ServerRepository implements OnModuleInit, OnApplicationShutdown, Snapshotting {
  readonly snapshotName = 'servers';
  private readonly byId = new Map<string, KoboldServer>();
  private readonly idByName = new Map<string, string>();
  /**
   * Servers in the order of their last check-in (or creation): the recently seen ones are at its end.
   * Entries seen at or before `prunedUpTo` are dropped from its head as lists ask for newer ones, so
   * listing the active servers costs O(active), not O(every server ever known).
   */
  private readonly bySeen = new Map<string, KoboldServer>();
  private prunedUpTo = -Infinity;
  /** See ServerRepository.listVersion: one process holds every copy, so it needs no persistence. */
  private version = 0;
  /** New servers whose creation is being written to the journal: nobody is answered about them before it is on disk. */
  private readonly creating = new Map<string, Promise<unknown>>();
  private readonly files: StoreFiles<ServersSnapshot, ServerChange>;

  constructor(config: AppConfig, snapshots: SnapshotService) {
    super();
    this.files = new StoreFiles(config, snapshots, 'servers', checkServersSnapshot, checkServerChange);
    snapshots.register(this);
  }

  onModuleInit(): void {
    this.files.load(
      (snapshot) => {
        for (const server of snapshot.servers) this.put(loaded(server));
      },
      (change) => this.apply(change),
    );
    // Oldest check-in first, as if they had checked in in that order.
    const seen = [...this.bySeen.values()].sort((a, b) => a.lastSeenAt - b.lastSeenAt);
    this.bySeen.clear();
    for (const server of seen) this.bySeen.set(server.id, server);
  }

  flushSnapshot(): void {
    this.files.flush((journalSeq) => ({ version: 1, journalSeq, servers: [...this.byId.values()] }));
  }

  flushJournalSync(): void {
    this.files.journal.commitSync();
  }

  onApplicationShutdown(): Promise<void> {
    return this.files.close();
  }

  async findById(id: string): Promise<KoboldServer | undefined> {
    if (this.creating.size > 0) await this.creating.get(id);
    const server = this.byId.get(id);
    return server && copy(server);
  }

  findByName(name: string): Promise<KoboldServer | undefined> {
    const id = this.idByName.get(name);
    return this.findById(id ?? '');
  }

  findSeenSince(since: number): Promise<KoboldServer[]> {
    const result: KoboldServer[] = [];
    if (since < this.prunedUpTo) {
      // Older than what the index still holds: look at every server.
      for (const server of this.byId.values()) if (server.lastSeenAt > since && !this.creating.has(server.id)) result.push(copy(server));
      return Promise.resolve(result);
    }
    for (const [id, server] of this.bySeen) {
      if (server.lastSeenAt > since) break;
      this.bySeen.delete(id);
    }
    this.prunedUpTo = since;
    for (const server of this.bySeen.values()) if (server.lastSeenAt > since && !this.creating.has(server.id)) result.push(copy(server));
    return Promise.resolve(result);
  }

  async create(server: KoboldServer): Promise<KoboldServer> {
    const existing = this.idByName.get(server.name);
    if (existing !== undefined) {
      // Being created by another pop: answered once that one is on disk; if it could not be stored, try again.
      return (await this.findById(existing)) ?? this.create(server);
    }
    const created = copy(server);
    this.put(created);
    const durable = this.files.recordDurably({ op: 'create', server: copy(server) });
    this.creating.set(created.id, durable.catch(() => undefined));
    try {
      await durable;
    } catch (error) {
      // Not on disk, so not created: whoever asks next may create it again.
      this.remove(created.id);
      throw error;
    } finally {
      this.creating.delete(created.id);
    }
    return copy(created);
  }

  async checkInByName(name: string, update: CheckInUpdate, provenPasswordHash: string | undefined): Promise<CheckInOutcome | undefined> {
    const id = this.idByName.get(name);
    if (id === undefined) return undefined;
    if (this.creating.size > 0) await this.creating.get(id);
    const server = this.byId.get(id);
    if (!server) return undefined;
    const before = copy(server);
    if (provenPasswordHash === undefined || provenPasswordHash !== server.passwordHash) return { before, checkedIn: false };
    // Only changed details are journaled: last-seen times alone are left to the snapshot.
    const changed = server.owner !== update.owner || server.model !== update.model || server.maxLength !== update.maxLength || server.maxContentLength !== update.maxContentLength;
    this.checkIn(server, update);
    if (changed) this.files.record({ op: 'checkin', id, ...update });
    else this.files.snapshot.markChanged();
    return { before, checkedIn: true };
  }

  addJob(id: string, job: ServerJob): Promise<KoboldServer | undefined> {
    const server = this.byId.get(id);
    if (!server) return Promise.resolve(undefined);
    recordJob(server, job);
    // As recorded (a job that took no time counts as a millisecond), so that it replays as it was.
    const recorded = server.recentJobs[server.recentJobs.length - 1];
    this.files.record({ op: 'job', id, tokens: recorded.tokens, seconds: recorded.seconds });
    return Promise.resolve(copy(server));
  }

  async updateSettings(id: string, settings: ServerSettings): Promise<KoboldServer | undefined> {
    if (this.creating.size > 0) await this.creating.get(id);
    const server = this.byId.get(id);
    if (!server) return undefined;
    applySettings(server, settings);
    const change: ServerChange = { op: 'settings', id };
    if (settings.maintenance !== undefined) change.maintenance = settings.maintenance;
    if (settings.info !== undefined) change.info = settings.info;
    this.files.record(change);
    return copy(server);
  }

  async deleteById(id: string): Promise<KoboldServer | undefined> {
    if (this.creating.size > 0) await this.creating.get(id);
    const server = this.byId.get(id);
    if (!server) return undefined;
    this.remove(id);
    this.files.record({ op: 'forget', id });
    return copy(server);
  }

  listVersion(): Promise<number> {
    return Promise.resolve(this.version);
  }

  markListChanged(): Promise<void> {
    this.version += 1;
    return Promise.resolve();
  }

  deleteUnusedSeenBefore(seenBefore: number): Promise<string[]> {
    const names: string[] = [];
    for (const server of this.byId.values()) {
      if (server.requestsFulfilled > 0 || server.lastSeenAt > seenBefore || this.creating.has(server.id)) continue;
      names.push(server.name);
      this.remove(server.id);
      this.files.record({ op: 'forget', id: server.id });
    }
    return Promise.resolve(names);
  }

  private apply(change: ServerChange): void {
    if (change.op === 'create') {
      if (!this.byId.has(change.server.id) && !this.idByName.has(change.server.name)) this.put(loaded(change.server));
      return;
    }
    const server = this.byId.get(change.id);
    if (!server) return;
    if (change.op === 'checkin') this.checkIn(server, change);
    else if (change.op === 'job') recordJob(server, change);
    else if (change.op === 'settings') applySettings(server, change);
    else this.remove(change.id);
  }

  private checkIn(server: KoboldServer, update: CheckInUpdate): void {
    server.owner = update.owner;
    server.model = update.model;
    server.maxLength = update.maxLength;
    server.maxContentLength = update.maxContentLength;
    server.lastSeenAt = update.lastSeenAt;
    this.bySeen.delete(server.id);
    this.bySeen.set(server.id, server);
  }

  private put(server: KoboldServer): void {
    this.byId.set(server.id, server);
    this.idByName.set(server.name, server.id);
    this.bySeen.set(server.id, server);
  }

  private remove(id: string): void {
    const server = this.byId.get(id);
    if (!server) return;
    this.byId.delete(id);
    this.bySeen.delete(id);
    if (this.idByName.get(server.name) === id) this.idByName.delete(server.name);
  }
}
