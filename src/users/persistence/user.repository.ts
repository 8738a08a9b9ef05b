import { Account } from '../domain/account';
import { User } from '../domain/user';

/** Port for user accounting and accounts. Async so that a networked store can implement it. */
export abstract class UserRepository {
  abstract findByUsername(username: string): Promise<User | undefined>;
  abstract addUsage(username: string, tokens: number): Promise<User>;
  abstract addContribution(username: string, tokens: number): Promise<User>;
  abstract findAll(): Promise<User[]>;
  /**
   * Registers an account; resolves to false, storing nothing, when the username is already registered
   * (whatever the key) or the key hash is already in use. Resolves once the account is stored durably.
   */
  abstract registerAccount(account: Account): Promise<boolean>;
  /** The account holding the API key of this hash, if any. */
  abstract findAccountByApiKeyHash(apiKeyHash: string): Promise<Account | undefined>;
}
