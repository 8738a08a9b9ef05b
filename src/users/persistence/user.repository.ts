import { User } from '../domain/user';

/** Port for user accounting. Async so that a networked store can implement it later. */
export abstract class UserRepository {
  abstract findByUsername(username: string): Promise<User | undefined>;
  abstract addUsage(username: string, tokens: number): Promise<User>;
  abstract addContribution(username: string, tokens: number): Promise<User>;
  abstract findAll(): Promise<User[]>;
}
