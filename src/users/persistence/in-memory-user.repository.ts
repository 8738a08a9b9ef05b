import { Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { checkFields, checkSnapshot, name, tokenCount } from '../../common/persistence/record-checks';
import { Snapshotting, SnapshotService } from '../../common/persistence/snapshot.service';
import { StoreFiles } from '../../common/persistence/store-files';
import { AppConfig } from '../../config/app-config';
import { User } from '../domain/user';
import { UserRepository } from './user.repository';

interface UsersSnapshot {
  version: 1;
  /** The last journal entry this snapshot holds. */
  journalSeq?: number;
  users: User[];
}

/** One journal line: tokens added to a user's usage or contributions. */
interface UserDelta {
  u: string;
  usage?: number;
  contributions?: number;
}

const USER_FIELDS = { username: name, usage: tokenCount, contributions: tokenCount };

function checkUsersSnapshot(data: unknown): string | null {
  return checkSnapshot(data, 'users', (user, path) => checkFields(user, path, USER_FIELDS), ['username']);
}

function checkUserDelta(entry: Record<string, unknown>): string | null {
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
  private readonly files: StoreFiles<UsersSnapshot, UserDelta>;

  constructor(config: AppConfig, snapshots: SnapshotService) {
    super();
    this.files = new StoreFiles(config, snapshots, 'users', checkUsersSnapshot, checkUserDelta);
    snapshots.register(this);
  }

  onModuleInit(): void {
    this.files.load(
      (snapshot) => {
        for (const user of snapshot.users) this.users.set(user.username, { ...user });
      },
      (delta) => this.apply(delta),
    );
  }

  flushSnapshot(): void {
    this.files.flush((journalSeq) => ({ version: 1, journalSeq, users: [...this.users.values()] }));
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
