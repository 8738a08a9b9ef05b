import { Injectable } from '@nestjs/common';
import { User } from './domain/user';
import { UserRepository } from './persistence/user.repository';

@Injectable()
export class UsersService {
  constructor(private readonly users: UserRepository) {}

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
