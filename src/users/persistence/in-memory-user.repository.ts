import { Injectable, OnModuleInit } from '@nestjs/common';
import { SnapshotFile } from '../../common/persistence/snapshot-file';
import { Snapshotting, SnapshotService } from '../../common/persistence/snapshot.service';
import { AppConfig } from '../../config/app-config';
import { User } from '../domain/user';
import { UserRepository } from './user.repository';

interface UsersSnapshot {
  version: 1;
  users: User[];
}

function isUsersSnapshot(data: unknown): data is UsersSnapshot {
  if (typeof data !== 'object' || data === null) return false;
  const users = (data as UsersSnapshot).users;
  return (
    Array.isArray(users) &&
    users.every(
      (u) =>
        typeof u === 'object' &&
        u !== null &&
        typeof u.username === 'string' &&
        Number.isFinite(u.usage) &&
        Number.isFinite(u.contributions),
    )
  );
}

@Injectable()
export class InMemoryUserRepository extends UserRepository implements OnModuleInit, Snapshotting {
  readonly snapshotName = 'users';
  private readonly users = new Map<string, User>();
  private readonly file: SnapshotFile<UsersSnapshot>;

  constructor(config: AppConfig, snapshots: SnapshotService) {
    super();
    this.file = new SnapshotFile(config.DATA_DIR, 'users.json', isUsersSnapshot);
    snapshots.register(this);
  }

  onModuleInit(): void {
    for (const user of this.file.read()?.users ?? []) this.users.set(user.username, { ...user });
  }

  flushSnapshot(): void {
    this.file.flush(() => ({ version: 1, users: [...this.users.values()] }));
  }

  findByUsername(username: string): Promise<User | undefined> {
    const user = this.users.get(username);
    return Promise.resolve(user && { ...user });
  }

  addUsage(username: string, tokens: number): Promise<User> {
    const user = this.getOrCreate(username);
    user.usage += tokens;
    this.file.markChanged();
    return Promise.resolve({ ...user });
  }

  addContribution(username: string, tokens: number): Promise<User> {
    const user = this.getOrCreate(username);
    user.contributions += tokens;
    this.file.markChanged();
    return Promise.resolve({ ...user });
  }

  findAll(): Promise<User[]> {
    return Promise.resolve([...this.users.values()].map((u) => ({ ...u })));
  }

  private getOrCreate(username: string): User {
    let user = this.users.get(username);
    if (!user) {
      user = { username, usage: 0, contributions: 0 };
      this.users.set(username, user);
    }
    return user;
  }
}
