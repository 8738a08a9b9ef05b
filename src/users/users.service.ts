import { ConflictException, ForbiddenException, Injectable, Logger, NotFoundException, ServiceUnavailableException } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { Account } from './domain/account';
import { ANONYMOUS_API_KEY, hashApiKey, newApiKey } from './domain/api-key';
import { ANONYMOUS, User } from './domain/user';
import { WaitingRequestsCounter } from './domain/waiting-requests-counter';
import { UserRepository } from './persistence/user.repository';

/** Who an API key belongs to: a registered account, or the anonymous key. */
export interface ApiKeyHolder {
  username: string;
  anonymous: boolean;
}

@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    private readonly users: UserRepository,
    private readonly waitingRequests: WaitingRequestsCounter,
    private readonly config: AppConfig,
  ) {}

  /**
   * Registers `username` and answers its new API key: the only time the key is ever shown (only its
   * hash is stored). 409 when the username is registered already; 403 when ACCOUNT_REGISTRATION is closed.
   */
  async register(username: string, now = Date.now()): Promise<{ username: string; apiKey: string }> {
    if (this.config.ACCOUNT_REGISTRATION !== 'open') throw new ForbiddenException('Registration is closed on this cluster (ACCOUNT_REGISTRATION=closed)');
    if (username === ANONYMOUS) throw new ConflictException(`"${ANONYMOUS}" is the name of anonymous requests; choose another username`);
    const apiKey = newApiKey();
    const account: Account = { username, apiKeyHash: hashApiKey(apiKey), registeredAt: now };
    let registered: boolean;
    try {
      registered = await this.users.registerAccount(account);
    } catch (error) {
      this.logger.error(`Could not store the account of "${username}": ${(error as Error).message}`);
      throw new ServiceUnavailableException('The cluster cannot store new accounts right now; try again later');
    }
    if (!registered) throw new ConflictException(`The username "${username}" is already registered`);
    this.logger.log(`Registered account "${username}"`);
    return { username, apiKey };
  }

  /** Who holds `apiKey`: the anonymous key is `Anonymous`; an unknown key is undefined. */
  async findApiKeyHolder(apiKey: string): Promise<ApiKeyHolder | undefined> {
    if (apiKey === ANONYMOUS_API_KEY) return { username: ANONYMOUS, anonymous: true };
    const account = await this.users.findAccountByApiKeyHash(hashApiKey(apiKey));
    return account && { username: account.username, anonymous: false };
  }

  /** A user's accounting and unfinished requests; 404 for a username the cluster has never seen. */
  async getProfile(username: string): Promise<User & { balance: number; waitingRequests: number }> {
    const user = await this.users.findByUsername(username);
    const waitingRequests = await this.waitingRequests.countUnfinished(username);
    if (!user && waitingRequests === 0) throw new NotFoundException(`No user "${username}": they never requested or contributed anything`);
    const { usage = 0, contributions = 0 } = user ?? {};
    return { username, usage, contributions, balance: contributions - usage, waitingRequests };
  }

  /** Credits one finished generation: the requester used the tokens, the server's owner contributed them. */
  async recordGeneration(requester: string, serverOwner: string, tokens: number): Promise<void> {
    await this.users.addUsage(requester, tokens);
    await this.users.addContribution(serverOwner, tokens);
  }

  async usageByUsername(): Promise<Record<string, number>> {
    return this.tally(await this.users.findAll(), (u) => u.usage);
  }

  async contributionsByUsername(): Promise<Record<string, number>> {
    return this.tally(await this.users.findAll(), (u) => u.contributions);
  }

  findByUsername(username: string): Promise<User | undefined> {
    return this.users.findByUsername(username);
  }

  /** Object.fromEntries makes own properties, so usernames such as `__proto__` are listed like any other. */
  private tally(users: User[], pick: (u: User) => number): Record<string, number> {
    return Object.fromEntries(users.filter((user) => pick(user) > 0).map((user) => [user.username, pick(user)]));
  }
}
