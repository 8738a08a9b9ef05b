import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Check, checkFields, checkSnapshot, name, timestamp, tokenCount } from '../../common/persistence/record-checks';
import { Snapshotting, SnapshotService } from '../../common/persistence/snapshot.service';
import { StoreFiles } from '../../common/persistence/store-files';
import { AppConfig } from '../../config/app-config';
import { Account } from '../domain/account';
import { isApiKeyHash } from '../domain/api-key';
import { User } from '../domain/user';
import { UserRepository } from './user.repository';

interface UsersSnapshot {
  version: 1;
  /** The last journal entry this snapshot holds. */
  journalSeq?: number;
  users: User[];
  /** Registered accounts (absent in snapshots written before accounts existed). */
  accounts?: Account[];
}

/** One journal line: tokens added to a user's usage or contributions. */
interface UserDelta {
  u: string;
  usage?: number;
  contributions?: number;
}

/** One journal line: an account registered (`k` is the API key's hash, never the key). */
interface AccountEntry {
  a: string;
  k: string;
  t: number;
}

type UsersJournalEntry = UserDelta | AccountEntry;

const USER_FIELDS = { username: name, usage: tokenCount, contributions: tokenCount };
const apiKeyHash: Check = (value) => (isApiKeyHash(value) ? null : 'is not a SHA-256 hash of an API key (64 hex digits)');
const ACCOUNT_FIELDS = { username: name, apiKeyHash, registeredAt: timestamp };

function checkUsersSnapshot(data: unknown): string | null {
  const problem = checkSnapshot(data, 'users', (user, path) => checkFields(user, path, USER_FIELDS), ['username']);
  if (problem !== null) return problem;
  const accounts = (data as UsersSnapshot).accounts;
  if (accounts === undefined) return null;
  if (!Array.isArray(accounts)) return 'accounts is not an array';
  return checkSnapshot({ version: 1, accounts }, 'accounts', (account, path) => checkFields(account, path, ACCOUNT_FIELDS), ['username', 'apiKeyHash']);
}

function checkUserDelta(entry: Record<string, unknown>): string | null {
  if (entry.a !== undefined) return checkFields(entry, '', { a: name, k: apiKeyHash, t: timestamp });
  if (entry.usage === undefined && entry.contributions === undefined) return 'neither usage nor contributions is set';
  const optional = (check: typeof tokenCount) => (value: unknown) => (value === undefined ? null : check(value));
  return checkFields(entry, '', { u: name, usage: optional(tokenCount), contributions: optional(tokenCount) });
}

/**
 * Users in memory, saved to users.json every SNAPSHOT_INTERVAL_SECONDS and at shutdown; every credit is
 * also appended to users.journal (group commit every JOURNAL_COMMIT_MS), which is replayed over the
 * snapshot at start and emptied whenever a snapshot is written.
 */
@Injectable()
export class InMemoryUserRepository extends UserRepository implements OnModuleInit, OnApplicationShutdown, Snapshotting {
  readonly snapshotName = 'users';
  private readonly users = new Map<string, User>();
  private readonly accountsByName = new Map<string, Account>();
  private readonly accountsByKeyHash = new Map<string, Account>();
  private readonly files: StoreFiles<UsersSnapshot, UsersJournalEntry>;

  constructor(config: AppConfig, snapshots: SnapshotService) {
    super();
    this.files = new StoreFiles(config, snapshots, 'users', checkUsersSnapshot, checkUserDelta);
    snapshots.register(this);
  }

  onModuleInit(): void {
    this.files.load(
      (snapshot) => {
        for (const user of snapshot.users) this.users.set(user.username, { ...user });
        for (const account of snapshot.accounts ?? []) this.addAccount({ ...account });
      },
      (entry) => {
        if ('a' in entry) this.addAccount({ username: entry.a, apiKeyHash: entry.k, registeredAt: entry.t });
        else this.apply(entry);
      },
    );
  }

  flushSnapshot(): void {
    this.files.flush((journalSeq) => ({ version: 1, journalSeq, users: [...this.users.values()], accounts: [...this.accountsByName.values()] }));
  }

  flushJournalSync(): void {
    this.files.journal.commitSync();
  }

  onApplicationShutdown(): Promise<void> {
    return this.files.close();
  }

  findByUsername(username: string): Promise<User | undefined> {
    const user = this.users.get(username);
    return Promise.resolve(user && { ...user });
  }

  addUsage(username: string, tokens: number): Promise<User> {
    return Promise.resolve(this.record({ u: username, usage: tokens }));
  }

  addContribution(username: string, tokens: number): Promise<User> {
    return Promise.resolve(this.record({ u: username, contributions: tokens }));
  }

  findAll(): Promise<User[]> {
    return Promise.resolve([...this.users.values()].map((u) => ({ ...u })));
  }

  async registerAccount(account: Account): Promise<boolean> {
    if (this.accountsByName.has(account.username) || this.accountsByKeyHash.has(account.apiKeyHash)) return false;
    const stored = { ...account };
    this.addAccount(stored);
    try {
      // On disk before the key is answered: a key that was shown once must keep working after a crash.
      await this.files.recordDurably({ a: stored.username, k: stored.apiKeyHash, t: stored.registeredAt });
    } catch (error) {
      this.accountsByName.delete(stored.username);
      this.accountsByKeyHash.delete(stored.apiKeyHash);
      throw error;
    }
    return true;
  }

  findAccountByApiKeyHash(apiKeyHash: string): Promise<Account | undefined> {
    const account = this.accountsByKeyHash.get(apiKeyHash);
    return Promise.resolve(account && { ...account });
  }

  private addAccount(account: Account): void {
    this.accountsByName.set(account.username, account);
    this.accountsByKeyHash.set(account.apiKeyHash, account);
  }

  private record(delta: UserDelta): User {
    const user = this.apply(delta);
    this.files.record(delta);
    return { ...user };
  }

  private apply(delta: UserDelta): User {
    let user = this.users.get(delta.u);
    if (!user) {
      user = { username: delta.u, usage: 0, contributions: 0 };
      this.users.set(delta.u, user);
    }
    user.usage += delta.usage ?? 0;
    user.contributions += delta.contributions ?? 0;
    return user;
  }
}
