import { HttpException, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { anotherServersService, startAppContext, TestContext } from '../../test/support/app-context';
import { aServer, T0 } from '../../test/support/servers';
import { ClusterSweeper } from '../generation/cluster-sweeper';
import { PasswordHasher } from './domain/password-hasher';
import { ServerRepository } from './persistence/server.repository';
import { CheckIn, ServersService } from './servers.service';

const HOUR = 3_600_000;

describe('ServersService: registrations and forgetting', () => {
  let app: TestContext;
  let servers: ServersService;
  let repository: ServerRepository;

  const checkIn = (name: string, address: string, overrides: Partial<CheckIn> = {}, now = T0) =>
    servers.checkIn({ name, username: 'owner', password: 'pw', model: 'm', maxLength: 80, maxContentLength: 1024, clientAddress: () => address, ...overrides }, now);

  beforeEach(async () => {
    app = await startAppContext({ REGISTRATIONS_PER_HOUR_PER_ADDRESS: 3, FORGET_UNUSED_SERVERS_HOURS: 24 });
    servers = app.context.get(ServersService);
    repository = app.context.get(ServerRepository);
  });

  afterEach(() => app.close());

  it('lets one address register REGISTRATIONS_PER_HOUR_PER_ADDRESS new names an hour, then answers 429 saying why', async () => {
    for (const name of ['a', 'b', 'c']) await checkIn(name, '10.0.0.1');
    const refused = await checkIn('d', '10.0.0.1').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HttpException);
    expect((refused as HttpException).getStatus()).toBe(429);
    expect((refused as HttpException).message).toMatch(/Too many new server names from your address: at most 3 per hour \(REGISTRATIONS_PER_HOUR_PER_ADDRESS\).*20 minute\(s\)/);
    expect(await repository.findByName('d')).toBeUndefined();
    // Names already registered keep working, other addresses are not affected, and the budget refills.
    await expect(checkIn('a', '10.0.0.1')).resolves.toMatchObject({ name: 'a' });
    await expect(checkIn('e', '10.0.0.2')).resolves.toMatchObject({ name: 'e' });
    await expect(checkIn('d', '10.0.0.1', {}, T0 + HOUR / 3)).resolves.toMatchObject({ name: 'd' });
  });

  it('forgets a server that never generated anything FORGET_UNUSED_SERVERS_HOURS after its last pop, in the sweep; its name is free again', async () => {
    const sweeper = app.context.get(ClusterSweeper);
    const unused = await checkIn('unused', '10.0.0.1');
    const used = await checkIn('used', '10.0.0.1');
    await servers.recordJob(used.id, { tokens: 5, seconds: 1 });
    await checkIn('unused', '10.0.0.1', {}, T0 + HOUR); // its last pop
    await sweeper.sweep(T0 + 25 * HOUR - 1);
    expect(await repository.findById(unused.id)).toBeDefined();
    await sweeper.sweep(T0 + 25 * HOUR);
    expect(await repository.findById(unused.id)).toBeUndefined();
    expect(await repository.findById(used.id)).toBeDefined();
    await expect(checkIn('unused', '10.0.0.3', { password: 'another' }, T0 + 25 * HOUR)).resolves.toMatchObject({ name: 'unused' });
  });

  it('answers 401, never 500, for a server whose stored hash is broken', async () => {
    await repository.create(aServer('broken', { passwordHash: 'scrypt$16385$8$1$c2FsdHNhbHQ=$AAAA' }));
    await expect(checkIn('broken', '10.0.0.1')).rejects.toThrow(UnauthorizedException);
  });

  it('answers 503 when a new server cannot be stored, and leaves the name free', async () => {
    jest.spyOn(repository, 'create').mockRejectedValueOnce(new Error('the servers.journal journal could not be written: ENOSPC'));
    await expect(checkIn('new', '10.0.0.1')).rejects.toThrow(ServiceUnavailableException);
    expect(await repository.findByName('new')).toBeUndefined();
  });
});

describe('ServersService: the check-in of a known server', () => {
  let app: TestContext;
  let servers: ServersService;
  let repository: ServerRepository;
  let passwords: PasswordHasher;

  const checkIn = (service: ServersService, password: string, now: number, overrides: Partial<CheckIn> = {}) =>
    service.checkIn({ name: 'box', username: 'owner', password, model: 'm', maxLength: 80, maxContentLength: 1024, clientAddress: () => '10.0.0.1', ...overrides }, now);

  /** Another instance: its own ServersService and password memory over the same repository (as two processes on one Redis). */
  const anotherInstance = (): { service: ServersService; passwords: PasswordHasher } => {
    const hasher = new PasswordHasher();
    return { service: anotherServersService(app.context, hasher), passwords: hasher };
  };

  beforeEach(async () => {
    app = await startAppContext({});
    servers = app.context.get(ServersService);
    repository = app.context.get(ServerRepository);
    passwords = app.context.get(PasswordHasher);
  });

  afterEach(() => app.close());

  it('checks a server whose password this instance verified in with one repository call and no scrypt', async () => {
    await checkIn(servers, 'pw', T0);
    const calls = jest.spyOn(repository, 'checkInByName');
    const scrypt = jest.spyOn(passwords, 'verify');
    const server = await checkIn(servers, 'pw', T0 + 1_000, { model: 'other', username: 'new-owner' });
    expect(calls).toHaveBeenCalledTimes(1);
    expect(scrypt).not.toHaveBeenCalled();
    expect(server).toMatchObject({ name: 'box', model: 'other', owner: 'new-owner', lastSeenAt: T0 + 1_000 });
    await expect(repository.findByName('box')).resolves.toEqual(server);
  });

  it('verifies the password once on another instance, then checks in with one call there too', async () => {
    const registered = await checkIn(servers, 'pw', T0);
    const other = anotherInstance();
    const calls = jest.spyOn(repository, 'checkInByName');
    const scrypt = jest.spyOn(other.passwords, 'verify');
    await expect(checkIn(other.service, 'pw', T0 + 1_000)).resolves.toMatchObject({ id: registered.id, lastSeenAt: T0 + 1_000 });
    expect(calls).toHaveBeenCalledTimes(2);
    expect(scrypt).toHaveBeenCalledTimes(1);
    calls.mockClear();
    await expect(checkIn(other.service, 'pw', T0 + 2_000)).resolves.toMatchObject({ id: registered.id, lastSeenAt: T0 + 2_000 });
    expect(calls).toHaveBeenCalledTimes(1);
    expect(scrypt).toHaveBeenCalledTimes(1);
  });

  it('answers 401 to a wrong password of a known name and changes nothing, before and after the right one was remembered', async () => {
    const registered = await checkIn(servers, 'pw', T0);
    await expect(checkIn(servers, 'wrong', T0 + 1_000, { username: 'mallory' })).rejects.toThrow(UnauthorizedException);
    await expect(repository.findById(registered.id)).resolves.toEqual(registered);
    await expect(checkIn(servers, 'pw', T0 + 2_000)).resolves.toMatchObject({ lastSeenAt: T0 + 2_000 });
    await expect(checkIn(servers, 'wrong', T0 + 3_000, { username: 'mallory' })).rejects.toThrow(UnauthorizedException);
    await expect(repository.findById(registered.id)).resolves.toMatchObject({ owner: 'owner', lastSeenAt: T0 + 2_000 });
  });

  it('does not let the remembered password of a deleted server check in the new server that took its name', async () => {
    const old = await checkIn(servers, 'pw', T0);
    const other = anotherInstance();
    await checkIn(other.service, 'pw', T0 + 1_000); // the other instance remembers 'pw' for box too
    await servers.deleteById(old.id);
    const again = await checkIn(servers, 'new-pw', T0 + 2_000, { username: 'new-owner' });
    expect(again.id).not.toBe(old.id);
    await expect(checkIn(other.service, 'pw', T0 + 3_000)).rejects.toThrow(UnauthorizedException);
    await expect(repository.findById(again.id)).resolves.toEqual(again);
    await expect(checkIn(other.service, 'new-pw', T0 + 4_000)).resolves.toMatchObject({ id: again.id, lastSeenAt: T0 + 4_000 });
  });
});

describe('ServersService: proofs of a server by password', () => {
  let app: TestContext;
  let servers: ServersService;
  let repository: ServerRepository;

  const checkIn = (name: string, password: string) =>
    servers.checkIn({ name, username: 'owner', password, model: 'm', maxLength: 80, maxContentLength: 1024, clientAddress: () => '10.0.0.1' });

  beforeEach(async () => {
    app = await startAppContext();
    servers = app.context.get(ServersService);
    repository = app.context.get(ServerRepository);
  });

  afterEach(() => app.close());

  it('remembers a password proven by a registration, a later check-in or an authenticate; never a wrong one', async () => {
    const alpha = await checkIn('alpha', 'pw-a');
    expect(servers.serversProvenBy('pw-a')).toEqual([alpha.id]);
    await checkIn('alpha', 'pw-a');
    expect(servers.serversProvenBy('pw-a')).toEqual([alpha.id]);
    await expect(checkIn('alpha', 'wrong')).rejects.toThrow(UnauthorizedException);
    await expect(servers.authenticate(alpha.id, 'wrong', () => '10.0.0.1')).rejects.toThrow(UnauthorizedException);
    expect(servers.serversProvenBy('wrong')).toEqual([]);
    // A server stored by another instance, whose password this one has never seen.
    const beta = await repository.create(aServer('beta', { passwordHash: await new PasswordHasher().hash('pw-b') }));
    expect(servers.serversProvenBy('pw-b')).toEqual([]);
    await servers.authenticate(beta.id, 'pw-b', () => '10.0.0.1');
    expect(servers.serversProvenBy('pw-b')).toEqual([beta.id]);
  });

  it('proves each server on its own: one password shared by two servers proves both only once verified for both', async () => {
    const alpha = await checkIn('alpha', 'shared');
    const beta = await repository.create(aServer('beta', { passwordHash: await new PasswordHasher().hash('shared') }));
    expect(servers.serversProvenBy('shared')).toEqual([alpha.id]);
    await checkIn('beta', 'shared');
    expect(servers.serversProvenBy('shared')).toEqual([alpha.id, beta.id]);
    expect(servers.serversProvenBy('other')).toEqual([]);
  });

  it("keeps the proofs of one password for many servers (a v2 API key is the password of all its user's workers)", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await checkIn(`worker-${i}`, 'api-key')).id);
    expect(servers.serversProvenBy('api-key')).toEqual(ids);
  });
});

describe('ServersService: the active servers of status reads', () => {
  let app: TestContext;
  let servers: ServersService;
  let repository: ServerRepository;

  const checkIn = (service: ServersService, name: string, now: number) =>
    service.checkIn({ name, username: 'owner', password: 'pw', model: 'm', maxLength: 80, maxContentLength: 1024, clientAddress: () => '10.0.0.1' }, now);
  /** Another instance over the same repository (as two processes on one Redis). */
  const anotherInstance = (): ServersService => anotherServersService(app.context);
  const names = (list: readonly { name: string }[]): string[] => list.map((server) => server.name).sort();

  beforeEach(async () => {
    app = await startAppContext({ SERVERS_LIST_CACHE_MS: 1_000 });
    servers = app.context.get(ServersService);
    repository = app.context.get(ServerRepository);
  });

  afterEach(() => app.close());

  it('reads the active servers once per SERVERS_LIST_CACHE_MS while nothing joins or leaves: stats and last-seen times may be that old', async () => {
    await checkIn(servers, 'a', T0);
    const reads = jest.spyOn(repository, 'findSeenSince');
    expect(names(await servers.activeSnapshot(T0 + 10))).toEqual(['a']);
    await servers.recordJob((await repository.findByName('a'))!.id, { tokens: 10, seconds: 1 });
    const cached = await servers.activeSnapshot(T0 + 999);
    expect(reads).toHaveBeenCalledTimes(1);
    expect(cached[0].recentJobs).toEqual([]);
    const fresh = await servers.activeSnapshot(T0 + 1_010);
    expect(reads).toHaveBeenCalledTimes(2);
    expect(fresh[0].recentJobs).toEqual([{ tokens: 10, seconds: 1 }]);
  });

  it('reads them again at once when a server joins, changes its offer, goes into maintenance or is deleted, through any instance', async () => {
    const other = anotherInstance();
    await checkIn(servers, 'a', T0);
    expect(names(await servers.activeSnapshot(T0 + 1))).toEqual(['a']);
    await checkIn(other, 'b', T0 + 2);
    expect(names(await servers.activeSnapshot(T0 + 3))).toEqual(['a', 'b']);
    await other.checkIn({ name: 'b', username: 'owner', password: 'pw', model: 'another', maxLength: 80, maxContentLength: 1024, clientAddress: () => '10.0.0.1' }, T0 + 4);
    expect((await servers.activeSnapshot(T0 + 5)).find((server) => server.name === 'b')?.model).toBe('another');
    const b = (await repository.findByName('b'))!;
    await other.updateSettings(b.id, { maintenance: true });
    expect((await servers.activeSnapshot(T0 + 6)).find((server) => server.name === 'b')?.maintenance).toBe(true);
    await other.deleteById(b.id);
    expect(names(await servers.activeSnapshot(T0 + 7))).toEqual(['a']);
  });

  it('reads them on every status read with SERVERS_LIST_CACHE_MS=0', async () => {
    await app.close();
    app = await startAppContext({ SERVERS_LIST_CACHE_MS: 0 });
    servers = app.context.get(ServersService);
    repository = app.context.get(ServerRepository);
    await checkIn(servers, 'a', T0);
    const reads = jest.spyOn(repository, 'findSeenSince');
    await servers.activeSnapshot(T0 + 1);
    await servers.activeSnapshot(T0 + 1);
    expect(reads).toHaveBeenCalledTimes(2);
  });
});
