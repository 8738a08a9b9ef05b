import { Injectable, NotFoundException } from '@nestjs/common';
import { User } from './domain/user';
import { WaitingRequestsCounter } from './domain/waiting-requests-counter';
import { UserRepository } from './persistence/user.repository';

@Injectable()
export class UsersService {
  constructor(
    private readonly users: UserRepository,
    private readonly waitingRequests: WaitingRequestsCounter,
  ) {}

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
