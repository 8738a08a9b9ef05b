import { UserRepository } from './user.repository';

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
  });
}
