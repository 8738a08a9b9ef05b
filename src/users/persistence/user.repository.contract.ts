import { Account } from '../domain/account';
import { hashApiKey } from '../domain/api-key';
import { UserRepository } from './user.repository';

const account = (username: string, key: string, registeredAt = 1_764_000_000_000): Account => ({ username, apiKeyHash: hashApiKey(key), registeredAt });

/** A fresh, empty repository for one test, and how to dispose of it. */
export interface UserRepositoryFixture {
  repository: UserRepository;
  dispose?: () => Promise<void>;
}

/**
 * The behaviour every UserRepository adapter must have: run it from each adapter's spec with a factory
 * of empty repositories (`describeUserRepositoryContract('in memory', async () => ...)`).
 */
export function describeUserRepositoryContract(adapter: string, create: () => Promise<UserRepositoryFixture>): void {
  describe(`UserRepository contract: ${adapter}`, () => {
    let fixture: UserRepositoryFixture;
    let users: UserRepository;

    beforeEach(async () => {
      fixture = await create();
      users = fixture.repository;
    });
    afterEach(async () => {
      await fixture.dispose?.();
    });

    it('knows nobody at first', async () => {
      await expect(users.findByUsername('alice')).resolves.toBeUndefined();
      await expect(users.findAll()).resolves.toEqual([]);
    });

    it('creates a user on their first credit and answers the user after each credit', async () => {
      await expect(users.addUsage('alice', 12)).resolves.toEqual({ username: 'alice', usage: 12, contributions: 0 });
      await expect(users.addContribution('alice', 30)).resolves.toEqual({ username: 'alice', usage: 12, contributions: 30 });
      await expect(users.addUsage('alice', 3)).resolves.toEqual({ username: 'alice', usage: 15, contributions: 30 });
      await expect(users.addContribution('bob', 7)).resolves.toEqual({ username: 'bob', usage: 0, contributions: 7 });
      await expect(users.findByUsername('alice')).resolves.toEqual({ username: 'alice', usage: 15, contributions: 30 });
      await expect(users.findByUsername('bob')).resolves.toEqual({ username: 'bob', usage: 0, contributions: 7 });
      await expect(users.findByUsername('carol')).resolves.toBeUndefined();
    });

    it('knows a user credited with zero tokens', async () => {
      await users.addUsage('zero', 0);
      await expect(users.findByUsername('zero')).resolves.toEqual({ username: 'zero', usage: 0, contributions: 0 });
    });

    it('lists every user once, with both tallies', async () => {
      await users.addUsage('alice', 5);
      await users.addContribution('alice', 6);
      await users.addUsage('bob', 1);
      await users.addContribution('carol', 2);
      const all = await users.findAll();
      expect([...all].sort((a, b) => a.username.localeCompare(b.username))).toEqual([
        { username: 'alice', usage: 5, contributions: 6 },
        { username: 'bob', usage: 1, contributions: 0 },
        { username: 'carol', usage: 0, contributions: 2 },
      ]);
    });

    it('keeps odd usernames apart and intact', async () => {
      const names = ['__proto__', 'constructor', 'a:b', '{kc}:users', 'Ünïcödé 🦙', ' spaced ', 'usage'];
      for (const [i, name] of names.entries()) await users.addUsage(name, i + 1);
      for (const [i, name] of names.entries()) await expect(users.findByUsername(name)).resolves.toEqual({ username: name, usage: i + 1, contributions: 0 });
      const all = await users.findAll();
      expect(all.map((u) => u.username).sort()).toEqual([...names].sort());
    });

    it('answers copies: changing an answer changes nothing stored', async () => {
      const user = await users.addUsage('alice', 5);
      user.usage = 1_000;
      const found = await users.findByUsername('alice');
      if (found) found.contributions = 1_000;
      (await users.findAll())[0].usage = 2_000;
      await expect(users.findByUsername('alice')).resolves.toEqual({ username: 'alice', usage: 5, contributions: 0 });
    });

    it('adds concurrent credits exactly, each answer showing a distinct running total', async () => {
      const names = ['alice', 'bob', 'carol'];
      const credits = Array.from({ length: 300 }, (_, i) => ({ name: names[i % 3], tokens: (i % 7) + 1, usage: i % 2 === 0 }));
      const answers = await Promise.all(credits.map((c) => (c.usage ? users.addUsage(c.name, c.tokens) : users.addContribution(c.name, c.tokens))));
      for (const name of names) {
        const mine = credits.filter((c) => c.name === name);
        const usage = mine.filter((c) => c.usage).reduce((sum, c) => sum + c.tokens, 0);
        const contributions = mine.filter((c) => !c.usage).reduce((sum, c) => sum + c.tokens, 0);
        await expect(users.findByUsername(name)).resolves.toEqual({ username: name, usage, contributions });
        // Each credit's answer is the tally right after it: all distinct when every credit adds tokens.
        const usageAnswers = answers.filter((a, i) => credits[i].name === name && credits[i].usage).map((a) => a.usage);
        expect(new Set(usageAnswers).size).toBe(usageAnswers.length);
        expect(Math.max(...usageAnswers)).toBe(usage);
      }
    });
    it('registers an account once per username and per key, and finds it by its key hash', async () => {
      await expect(users.findAccountByApiKeyHash(hashApiKey('key-a'))).resolves.toBeUndefined();
      await expect(users.registerAccount(account('alice', 'key-a'))).resolves.toBe(true);
      await expect(users.registerAccount(account('alice', 'key-b'))).resolves.toBe(false);
      await expect(users.registerAccount(account('bob', 'key-a'))).resolves.toBe(false);
      await expect(users.registerAccount(account('bob', 'key-b'))).resolves.toBe(true);
      await expect(users.findAccountByApiKeyHash(hashApiKey('key-a'))).resolves.toEqual(account('alice', 'key-a'));
      await expect(users.findAccountByApiKeyHash(hashApiKey('key-b'))).resolves.toEqual(account('bob', 'key-b'));
      await expect(users.findAccountByApiKeyHash(hashApiKey('key-c'))).resolves.toBeUndefined();
    });

    it('keeps accounts apart from the tallies: registering credits nothing, credits register nothing', async () => {
      await users.addUsage('carol', 4);
      await expect(users.registerAccount(account('carol', 'key-c'))).resolves.toBe(true);
      await expect(users.registerAccount(account('__proto__', 'key-p'))).resolves.toBe(true);
      await expect(users.findByUsername('carol')).resolves.toEqual({ username: 'carol', usage: 4, contributions: 0 });
      await expect(users.findByUsername('__proto__')).resolves.toBeUndefined();
      await expect(users.findAccountByApiKeyHash(hashApiKey('key-p'))).resolves.toEqual(account('__proto__', 'key-p'));
    });

    it('lets exactly one of concurrent registrations of a username win', async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => users.registerAccount(account('dave', `key-${i}`))));
      expect(answers.filter(Boolean)).toHaveLength(1);
      const winner = answers.indexOf(true);
      await expect(users.findAccountByApiKeyHash(hashApiKey(`key-${winner}`))).resolves.toEqual(account('dave', `key-${winner}`));
      await expect(users.findAccountByApiKeyHash(hashApiKey(`key-${(winner + 1) % 20}`))).resolves.toBeUndefined();
    });

    it('answers copies of accounts', async () => {
      await users.registerAccount(account('erin', 'key-e'));
      const found = await users.findAccountByApiKeyHash(hashApiKey('key-e'));
      if (found) found.username = 'mallory';
      await expect(users.findAccountByApiKeyHash(hashApiKey('key-e'))).resolves.toEqual(account('erin', 'key-e'));
    });
  });
}
