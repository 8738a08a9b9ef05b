import { Injectable, Logger, NotFoundException, UnauthorizedException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AuthFailureLimiter } from '../common/rate-limit/auth-failure-limiter';
import { AppConfig } from '../config/app-config';
import { isActive, KoboldServer, ServerCapabilities, ServerJob } from './domain/kobold-server';
import { PasswordHasher } from './domain/password-hasher';
import { ServerRepository } from './persistence/server.repository';

/**
 * The client's address, read on demand: Express works it out (trust proxy, X-Forwarded-For) each time it
 * is read, and a pop with a known password never needs it.
 */
export type ClientAddress = () => string;

export interface CheckIn extends ServerCapabilities {
  name: string;
  username: string;
  password: string;
  /** The client's address, for the wrong-password limit; read only when a password has to be checked. */
  clientAddress: ClientAddress;
}

@Injectable()
export class ServersService {
  private readonly logger = new Logger(ServersService.name);
  /** Servers that were active at the last sweep, to log when one goes stale. */
  private activeAtLastSweep = new Set<string>();

  constructor(
    private readonly servers: ServerRepository,
    private readonly passwords: PasswordHasher,
    private readonly authFailures: AuthFailureLimiter,
    private readonly config: AppConfig,
  ) {}

  /**
   * A pop is the server's check-in: the first creates it, later ones update its owner, model, limits
   * and last-seen time, from whichever machine, as long as the password matches the name.
   */
  async checkIn(checkIn: CheckIn, now = Date.now()): Promise<KoboldServer> {
    const update = {
      owner: checkIn.username,
      model: checkIn.model,
      maxLength: checkIn.maxLength,
      maxContentLength: checkIn.maxContentLength,
      lastSeenAt: now,
    };
    let server = await this.servers.findByName(checkIn.name);
    if (!server) {
      const candidate: KoboldServer = {
        ...update,
        id: randomUUID(),
        name: checkIn.name,
        passwordHash: await this.passwords.hash(checkIn.password),
        tokensGenerated: 0,
        requestsFulfilled: 0,
        recentJobs: [],
        createdAt: now,
      };
      server = await this.servers.create(candidate);
      // Another pop may have created the name while the hash was computed: then its password rules.
      if (server.id === candidate.id) {
        this.logger.log(`New server "${server.name}" (${server.id}) of ${server.owner} with ${server.model}`);
        return server;
      }
    }
    if (!(await this.isPasswordOf(server, checkIn.password, checkIn.clientAddress))) {
      throw new UnauthorizedException(`Wrong password for server name "${checkIn.name}": that name is already taken`);
    }
    if (!this.isActive(server, now)) this.logger.log(`Server "${server.name}" is back`);
    return (await this.servers.updateCheckIn(server.id, update)) ?? server;
  }

  /** The server, if `password` is its password; otherwise 401 (429 after too many wrong ones). */
  async authenticate(serverId: string, password: string, clientAddress: ClientAddress): Promise<KoboldServer> {
    const server = await this.servers.findById(serverId);
    if (!server || !(await this.isPasswordOf(server, password, clientAddress))) {
      throw new UnauthorizedException('Wrong password for the server that took this generation');
    }
    return server;
  }

  /**
   * Whether `password` is the server's. A password verified before is recognised at once; any other
   * is a guess until scrypt says otherwise, and counts against the wrong-password limit (429 over it,
   * before any hashing), so guesses never touch the server's own pop budget.
   */
  private async isPasswordOf(server: KoboldServer, password: string, clientAddress: ClientAddress): Promise<boolean> {
    if (this.passwords.remembers(password, server.passwordHash)) return true;
    const address = clientAddress();
    this.authFailures.beginGuess(server.name, address);
    const right = await this.passwords.verify(password, server.passwordHash);
    if (right) this.authFailures.guessWasRight(server.name, address);
    else this.authFailures.guessWasWrong(server.name, address);
    return right;
  }

  async recordJob(serverId: string, job: ServerJob): Promise<void> {
    await this.servers.addJob(serverId, job);
  }

  /** A server by id, stale ones included; 404 otherwise. */
  async getById(id: string): Promise<KoboldServer> {
    const server = await this.servers.findById(id);
    if (!server) throw new NotFoundException(`No server with id "${id}"`);
    return server;
  }

  /** Servers seen within STALE_SERVER_SECONDS. */
  findActive(now = Date.now()): Promise<KoboldServer[]> {
    return this.servers.findSeenSince(now - this.staleAfterMs());
  }

  /** Run by the scheduled sweep: logs servers that went stale since the last sweep. */
  async sweepStale(now = Date.now()): Promise<void> {
    const active = new Set((await this.findActive(now)).map((s) => s.id));
    for (const id of this.activeAtLastSweep) {
      if (!active.has(id)) this.logger.log(`Server ${id} went stale (no pop for ${this.config.STALE_SERVER_SECONDS}s)`);
    }
    this.activeAtLastSweep = active;
  }

  isActive(server: KoboldServer, now = Date.now()): boolean {
    return isActive(server, now, this.staleAfterMs());
  }

  private staleAfterMs(): number {
    return this.config.STALE_SERVER_SECONDS * 1000;
  }
}
