import { AppConfig } from '../config/app-config';
import { ActiveServersList } from './active-servers-list';
import { KoboldServer } from './domain/kobold-server';
import { ServersService } from './servers.service';
import { aServer, T0 } from '../../test/support/servers';

const server = (name: string): KoboldServer => aServer(name, { id: `id-${name}` });

describe('ActiveServersList (the body of GET /servers)', () => {
  let active: KoboldServer[];
  let version: number;
  let servers: { listVersion: () => Promise<number>; findActive: jest.Mock };
  let list: ActiveServersList;

  beforeEach(() => {
    active = [server('alpha')];
    version = 0;
    servers = { listVersion: () => Promise.resolve(version), findActive: jest.fn(() => Promise.resolve(active.map((s) => ({ ...s })))) };
    list = new ActiveServersList(servers as unknown as ServersService, Object.assign(new AppConfig(), { SERVERS_LIST_CACHE_MS: 1000 }));
  });

  it('builds the list once for ten parallel readers, and serves it as JSON', async () => {
    const bodies = await Promise.all(Array.from({ length: 10 }, () => list.json(T0)));
    expect(servers.findActive).toHaveBeenCalledTimes(1);
    expect(new Set(bodies).size).toBe(1);
    expect(JSON.parse(bodies[0].toString())).toEqual([expect.objectContaining({ name: 'alpha', online: true })]);
  });

  it('rebuilds it once SERVERS_LIST_CACHE_MS have passed', async () => {
    await list.json(T0);
    active[0].tokensGenerated = 6;
    expect(JSON.parse((await list.json(T0 + 999)).toString())[0].tokens_generated).toBe(0);
    expect(JSON.parse((await list.json(T0 + 1000)).toString())[0].tokens_generated).toBe(6);
    expect(servers.findActive).toHaveBeenCalledTimes(2);
  });

  it('rebuilds it at once when a server joins or changes its model', async () => {
    await list.json(T0);
    active.push(server('beta'));
    version += 1;
    expect(JSON.parse((await list.json(T0 + 1)).toString()).map((s: { name: string }) => s.name)).toEqual(['alpha', 'beta']);
  });

  it('builds it per request with SERVERS_LIST_CACHE_MS=0', async () => {
    list = new ActiveServersList(servers as unknown as ServersService, Object.assign(new AppConfig(), { SERVERS_LIST_CACHE_MS: 0 }));
    await list.json(T0);
    await list.json(T0);
    expect(servers.findActive).toHaveBeenCalledTimes(2);
  });

  it('serializes a long list in chunks, with the same result', async () => {
    active = Array.from({ length: ActiveServersList.CHUNK * 2 + 1 }, (_, i) => server(`s${i}`));
    const listed = JSON.parse((await list.json(T0)).toString()) as { name: string }[];
    expect(listed.map((s) => s.name)).toEqual(active.map((s) => s.name));
  });
});
