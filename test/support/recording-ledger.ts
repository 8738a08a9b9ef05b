import { GenerationCredit, GenerationLedger } from '../../src/generation/persistence/generation-ledger';
import { KoboldServer, PERFORMANCE_WINDOW } from '../../src/servers/domain/kobold-server';
import { CheckInOutcome, CheckInUpdate } from '../../src/servers/persistence/server.repository';

/**
 * A GenerationLedger for tests: records every credit, so a test can check each accepted text is credited
 * once; the servers' owners are `owners` (a server not there has the owner `defaultOwner`, unless that is
 * null: then it does not exist). Servers that pops check in are `servers` (by name), with the jobs
 * credited to them as their recent jobs, as ServerRepository.checkInByName answers them.
 */
export class RecordingLedger extends GenerationLedger {
  readonly credits: GenerationCredit[] = [];
  readonly owners = new Map<string, string>();
  readonly servers = new Map<string, KoboldServer>();

  constructor(private readonly defaultOwner: string | null = 'owner') {
    super();
  }

  credit(credit: GenerationCredit): Promise<void> {
    this.credits.push(credit);
    return Promise.resolve();
  }

  ownerOf(serverId: string): Promise<string | undefined> {
    return Promise.resolve(this.owners.get(serverId) ?? this.defaultOwner ?? undefined);
  }

  checkIn(name: string, update: CheckInUpdate, provenPasswordHash: string): Promise<CheckInOutcome | undefined> {
    const server = this.servers.get(name);
    if (!server) return Promise.resolve(undefined);
    const jobs = this.credits.filter((credit) => credit.serverId === server.id).map((credit) => ({ tokens: credit.tokens, seconds: Math.max(credit.seconds, 0.001) }));
    const before = { ...server, recentJobs: jobs.slice(-PERFORMANCE_WINDOW) };
    if (provenPasswordHash !== server.passwordHash) return Promise.resolve({ before, checkedIn: false });
    Object.assign(server, update);
    this.owners.set(server.id, update.owner);
    return Promise.resolve({ before, checkedIn: true });
  }
}
