import { HttpException, HttpStatus, Injectable, Logger, NotFoundException, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AuthFailureLimiter } from '../common/rate-limit/auth-failure-limiter';
import { AppConfig } from '../config/app-config';
import { isActive, KoboldServer, ServerCapabilities, ServerJob, ServerSettings } from './domain/kobold-server';
import { PasswordHasher } from './domain/password-hasher';
import { PasswordProofs } from './domain/password-proofs';
import { RegistrationBudgetStore } from './persistence/registration-budget.store';
import { CheckInUpdate, ServerBeforeCheckIn, ServerRepository } from './persistence/server.repository';
import { StaleServersCursor } from './persistence/stale-servers-cursor';

/**
 * The client's address, read on demand: Express works it out (trust proxy, X-Forwarded-For) each time it
 * is read, and a pop with a known password never needs it.
 */
export type ClientAddress = () => string;

/** The 401 of authenticate: a wrong password, or no such server (any more). */
export const WRONG_SERVER_PASSWORD = 'Wrong password for the server that took this generation';

export interface CheckIn extends ServerCapabilities {
  name: string;
  username: string;
  password: string;
  /**
   * The client address of the pop (`req.ip`), asked only when the pop registers a new name (budgeted per
   * address) or a password has to be checked (wrong passwords are limited per address): working it out
   * costs a few µs, which the hot path of known servers does not pay.
   */
  clientAddress: ClientAddress;
}

/** Server names whose verified password hash an instance remembers at most (the oldest goes first). */
const MAX_REMEMBERED_NAMES = 100_000;
/** Check-in calls a pop makes at most before giving up on a name that keeps changing hands (a 503). */
const CHECK_IN_ATTEMPTS = 4;

@Injectable()
export class ServersService {
  private readonly logger = new Logger(ServersService.name);
  /** Servers that were active at this instance's last sweep (id → last seen), to log when one goes stale. */
  private activeAtLastSweep = new Map<string, number>();
  /** The stale cut-off of this instance's last sweep (undefined before its first). */
  private lastStaleCutoff: number | undefined;
  /**
   * Per instance, safe to lose: the password hash of each server name a pop's password was verified
   * against here. The password of a later pop is checked against it in memory (PasswordHasher.remembers),
   * and the repository checks the name still has that hash in the same step as the check-in.
   */
  private readonly verifiedHashByName = new Map<string, string>();
  /** Passwords this instance verified, by fingerprint, and the servers they are the password of (see serversProvenBy). */
  private readonly proofs = new PasswordProofs();
  /** The active servers as last read for status reads, and the list version they were read at (activeSnapshot). */
  private activeCopy: { servers: readonly KoboldServer[]; readAt: number; version: number } | undefined;

  constructor(
    private readonly servers: ServerRepository,
    private readonly passwords: PasswordHasher,
    private readonly authFailures: AuthFailureLimiter,
    private readonly config: AppConfig,
    private readonly registrations: RegistrationBudgetStore,
    private readonly staleCursor: StaleServersCursor,
  ) {}

  /**
   * A pop is the server's check-in: the first creates it, later ones update its owner, model, limits
   * and last-seen time, from whichever machine, as long as the password matches the name.
   */
  async checkIn(checkIn: CheckIn, now = Date.now()): Promise<KoboldServer> {
    const update = this.checkInUpdate(checkIn, now);
    // A known server whose password this instance verified before is checked in by one repository call.
    let proven = this.verifiedHashOf(checkIn);
    for (let attempt = 0; attempt < CHECK_IN_ATTEMPTS; attempt++) {
      const found = await this.servers.checkInByName(checkIn.name, update, proven);
      if (!found) {
        const created = await this.register(checkIn, update, now);
        if (created) return created;
        // Another pop created the name while the hash was computed: its password rules.
        continue;
      }
      const server = found.before;
      if (found.checkedIn) {
        await this.checkedIn(server, update, now);
        return { ...server, ...update };
      }
      if (!(await this.isPasswordOf(server, checkIn.password, checkIn.clientAddress))) {
        this.verifiedHashByName.delete(checkIn.name);
        throw new UnauthorizedException(`Wrong password for server name "${checkIn.name}": that name is already taken`);
      }
      proven = server.passwordHash;
      this.rememberVerified(checkIn.name, proven);
    }
    throw new ServiceUnavailableException(`Server name "${checkIn.name}" changed hands while it was checking in; try again`);
  }

  /**
   * A pop's check-in as one store step (GenerationStore.popFor), when this instance has verified the pop's
   * password for its server name before: the update, and the hash the password was verified against.
   * Undefined otherwise: the pop then checks in through checkIn, which verifies (or registers) it.
   */
  provenCheckIn(checkIn: CheckIn, now = Date.now()): { update: CheckInUpdate; provenPasswordHash: string } | undefined {
    const proven = this.verifiedHashOf(checkIn);
    return proven === undefined ? undefined : { update: this.checkInUpdate(checkIn, now), provenPasswordHash: proven };
  }

  /** The hash this instance verified the check-in's password against for its name, if it did. */
  private verifiedHashOf(checkIn: CheckIn): string | undefined {
    const remembered = this.verifiedHashByName.get(checkIn.name);
    return remembered !== undefined && this.passwords.remembers(checkIn.password, remembered) ? remembered : undefined;
  }

  /** The verified hash of a name that a proven check-in refused (the name's server changed): the next pop verifies again. */
  forgetVerified(name: string): void {
    this.verifiedHashByName.delete(name);
  }

  /**
   * After a check-in made by the store with `update` (GenerationStore.popFor) on the server as it was
   * (`before`): logs a server that is back, and tells every instance's copies of the active list when the
   * server joined it or changed its offer or owner.
   */
  async checkedIn(before: ServerBeforeCheckIn, update: CheckInUpdate, now: number): Promise<void> {
    const back = !this.isActive(before, now);
    if (back) this.logger.log(`Server "${before.name}" is back`);
    if (back || before.owner !== update.owner || before.model !== update.model || before.maxLength !== update.maxLength || before.maxContentLength !== update.maxContentLength) {
      await this.servers.markListChanged();
    }
  }

  private checkInUpdate(checkIn: CheckIn, now: number): CheckInUpdate {
    return { owner: checkIn.username, model: checkIn.model, maxLength: checkIn.maxLength, maxContentLength: checkIn.maxContentLength, lastSeenAt: now };
  }

  /** A new server for a pop of an unknown name, or undefined when another pop registered the name first. */
  private async register(checkIn: CheckIn, update: CheckInUpdate, now: number): Promise<KoboldServer | undefined> {
    await this.spendRegistration(checkIn.clientAddress(), now);
    const candidate: KoboldServer = {
      ...update,
      id: randomUUID(),
      name: checkIn.name,
      passwordHash: await this.passwords.hash(checkIn.password),
      tokensGenerated: 0,
      requestsFulfilled: 0,
      recentJobs: [],
      createdAt: now,
      maintenance: false,
      info: '',
    };
    let server: KoboldServer;
    try {
      server = await this.servers.create(candidate);
    } catch (error) {
      this.logger.error(`Could not store new server "${candidate.name}": ${(error as Error).message}`);
      throw new ServiceUnavailableException('The cluster cannot store new servers right now (its data directory cannot be written); try again later');
    }
    if (server.id !== candidate.id) return undefined;
    this.logger.log(`New server "${server.name}" (${server.id}) of ${server.owner} with ${server.model}`);
    this.rememberVerified(server.name, server.passwordHash);
    this.rememberProof(server.id, checkIn.password);
    await this.servers.markListChanged();
    return server;
  }

  /** Remembers, for this instance only, that a pop's password was verified against the hash of the server named `name`. */
  private rememberVerified(name: string, passwordHash: string): void {
    this.verifiedHashByName.set(name, passwordHash);
    // The oldest entry goes: forgetting costs one more round trip on that server's next pop, nothing else.
    if (this.verifiedHashByName.size > MAX_REMEMBERED_NAMES) this.verifiedHashByName.delete(this.verifiedHashByName.keys().next().value as string);
  }

  /** The server, if `password` is its password; otherwise 401 (429 after too many wrong ones). Remembered as a proof (serversProvenBy). */
  async authenticate(serverId: string, password: string, clientAddress: ClientAddress): Promise<KoboldServer> {
    const server = await this.servers.findById(serverId);
    if (!server || !(await this.isPasswordOf(server, password, clientAddress))) {
      throw new UnauthorizedException(WRONG_SERVER_PASSWORD);
    }
    return server;
  }

  /**
   * The ids of the servers whose password this instance has seen `password` to be (on a check-in or an
   * authenticate), as far as it remembers (bounded, per instance, lost on restart). A server's password
   * never changes, so each id is proven for good; a server missing here may still be the password's
   * (authenticate then checks it, and remembers it). A submit sends these to the store, which checks the
   * generation's server among them in the same step as it takes the text (GenerationStore.submit).
   */
  serversProvenBy(password: string): string[] {
    return this.proofs.serversProvenBy(this.passwords.fingerprint(password));
  }

  /**
   * Whether `password` is the server's. A password verified before is recognised at once; any other
   * is a guess until scrypt says otherwise, and counts against the wrong-password limit (429 over it,
   * before any hashing), so guesses never touch the server's own pop budget. A right one is remembered as
   * a proof (serversProvenBy).
   */
  private async isPasswordOf(server: KoboldServer, password: string, clientAddress: ClientAddress): Promise<boolean> {
    if (this.passwords.remembers(password, server.passwordHash)) {
      this.rememberProof(server.id, password);
      return true;
    }
    const address = clientAddress();
    await this.authFailures.beginGuess(server.name, address);
    const right = await this.passwords.verify(password, server.passwordHash);
    if (right) {
      this.rememberProof(server.id, password);
      await this.authFailures.guessWasRight(server.name, address);
    } else this.authFailures.guessWasWrong(server.name, address);
    return right;
  }

  /** `password` was verified for the server `serverId`: remembered by its fingerprint, never in plain text. */
  private rememberProof(serverId: string, password: string): void {
    this.proofs.remember(this.passwords.fingerprint(password), serverId);
  }

  async recordJob(serverId: string, job: ServerJob): Promise<void> {
    await this.servers.addJob(serverId, job);
  }

  /** A server by id, stale ones included, or undefined. */
  findById(id: string): Promise<KoboldServer | undefined> {
    return this.servers.findById(id);
  }

  /** A server by id, stale ones included; 404 otherwise. */
  async getById(id: string): Promise<KoboldServer> {
    const server = await this.servers.findById(id);
    if (!server) throw new NotFoundException(`No server with id "${id}"`);
    return server;
  }

  /** Changes a server's settings (maintenance, info), as its owner asked; 404 for an unknown id. */
  async updateSettings(id: string, settings: ServerSettings): Promise<KoboldServer> {
    const server = await this.servers.updateSettings(id, settings);
    if (!server) throw new NotFoundException(`No server with id "${id}"`);
    if (settings.maintenance !== undefined) {
      this.logger.log(`Server "${server.name}" (${id}) ${settings.maintenance ? 'is in maintenance' : 'is out of maintenance'}`);
      await this.servers.markListChanged();
    }
    return server;
  }

  /** Deletes a server, as its owner asked: its name is free again; 404 for an unknown id. Answers it as it was. */
  async deleteById(id: string): Promise<KoboldServer> {
    const server = await this.servers.deleteById(id);
    if (!server) throw new NotFoundException(`No server with id "${id}"`);
    this.logger.log(`Server "${server.name}" (${id}) of ${server.owner} was deleted by its owner`);
    this.verifiedHashByName.delete(server.name);
    await this.servers.markListChanged();
    return server;
  }

  /** Servers seen within STALE_SERVER_SECONDS. */
  findActive(now = Date.now()): Promise<KoboldServer[]> {
    return this.servers.findSeenSince(now - this.staleAfterMs());
  }

  /**
   * The active servers for a status read, which clients poll every second or faster: a copy this
   * instance read at most SERVERS_LIST_CACHE_MS ago, unless a server joined or left the list, or changed
   * its offer, owner or maintenance, on any instance since (ServerRepository.listVersion: one small read
   * instead of every active server's). Stats and last-seen times may be that old, and a server that just
   * went stale may still be in it for that long. Shared: callers must not change it.
   */
  async activeSnapshot(now = Date.now()): Promise<readonly KoboldServer[]> {
    const version = await this.listVersion();
    const cached = this.activeCopy;
    if (cached && cached.version === version && now - cached.readAt < this.config.SERVERS_LIST_CACHE_MS && now >= cached.readAt) return cached.servers;
    const servers = await this.findActive(now);
    this.activeCopy = { servers, readAt: now, version };
    return servers;
  }

  /**
   * Changes whenever a server joins the active list (new, or back from stale), leaves it (deleted), or
   * changes its model, limits, owner or maintenance, through any instance: copies of the list
   * (activeSnapshot, ActiveServersList) are rebuilt then, whatever their age.
   */
  listVersion(): Promise<number> {
    return this.servers.listVersion();
  }

  /**
   * Run by the scheduled sweep: logs servers that went stale since the last sweep, once per cluster. The
   * sweep of each instance claims, from the shared StaleServersCursor, the last-seen times between the
   * previous cut-off of any instance and its own; it logs the servers it saw active at its own last sweep
   * whose last pop falls in its claim. Its own last cut-off is never after the cursor's position (the
   * cursor only moves forward, and its own sweeps moved it), so every server going stale falls in one
   * claim and is logged by one instance (clocks in step). Its first sweep only looks.
   */
  async sweepStale(now = Date.now()): Promise<void> {
    const cutoff = now - this.staleAfterMs();
    const active = await this.findActive(now);
    const activeIds = new Set(active.map((s) => s.id));
    if (this.lastStaleCutoff !== undefined) {
      const claim = await this.staleCursor.advance(cutoff);
      if (claim.claimed) {
        const from = claim.from ?? this.lastStaleCutoff;
        for (const [id, lastSeenAt] of this.activeAtLastSweep) {
          if (!activeIds.has(id) && lastSeenAt > from) this.logger.log(`Server ${id} went stale (no pop for ${this.config.STALE_SERVER_SECONDS}s)`);
        }
      }
    }
    this.activeAtLastSweep = new Map(active.map((s) => [s.id, s.lastSeenAt]));
    this.lastStaleCutoff = cutoff;
  }

  /**
   * Run by the scheduled sweep: forgets servers that never fulfilled a request and have not popped for
   * FORGET_UNUSED_SERVERS_HOURS (their names become free), and addresses whose registration budget is full again.
   * Safe with N instances: the store deletes each server in one atomic step that answers its name to one caller only.
   */
  async forgetUnused(now = Date.now()): Promise<number> {
    await this.registrations.prune(now);
    const forgotten = await this.servers.deleteUnusedSeenBefore(now - this.config.FORGET_UNUSED_SERVERS_HOURS * 3_600_000);
    if (forgotten.length > 0) {
      this.logger.log(`Forgot ${forgotten.length} server(s) that never generated anything and did not pop for ${this.config.FORGET_UNUSED_SERVERS_HOURS} h`);
    }
    return forgotten.length;
  }

  /** 429 when `address` has used up its REGISTRATIONS_PER_HOUR_PER_ADDRESS; counts one registration otherwise. */
  private async spendRegistration(address: string, now: number): Promise<void> {
    const waitMs = await this.registrations.trySpend(address, now);
    if (waitMs > 0) {
      const limit = this.config.REGISTRATIONS_PER_HOUR_PER_ADDRESS;
      throw new HttpException(
        `Too many new server names from your address: at most ${limit} per hour (REGISTRATIONS_PER_HOUR_PER_ADDRESS). ` +
          `Keep using a name you registered before, or try a new one in ${Math.ceil(waitMs / 60_000)} minute(s)`,
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
  }

  isActive(server: Pick<KoboldServer, 'lastSeenAt'>, now = Date.now()): boolean {
    return isActive(server, now, this.staleAfterMs());
  }

  private staleAfterMs(): number {
    return this.config.STALE_SERVER_SECONDS * 1000;
  }
}
