import { randomUUID } from 'node:crypto';
import { KoboldServer } from '../../src/servers/domain/kobold-server';

/** 2026-11-25T00:00:00Z: a fixed time for stored servers in tests. */
export const T0 = Date.UTC(2026, 10, 25);

/** A stored server as the repositories hold it, popped at T0 and never used; `passwordHash` is a placeholder unless given. */
export function aServer(name: string, overrides: Partial<KoboldServer> = {}): KoboldServer {
  return {
    id: randomUUID(),
    name,
    owner: `${name}-owner`,
    passwordHash: 'not-a-hash',
    model: 'm',
    maxLength: 80,
    maxContentLength: 1024,
    tokensGenerated: 0,
    requestsFulfilled: 0,
    recentJobs: [],
    createdAt: T0,
    lastSeenAt: T0,
    maintenance: false,
    info: '',
    ...overrides,
  };
}
