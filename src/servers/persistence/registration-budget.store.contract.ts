import { RegistrationBudgetStore } from './registration-budget.store';

const HOUR_MS = 3_600_000;
const T0 = 1_700_000_000_000;

/**
 * The behaviour every RegistrationBudgetStore adapter must have: run it from each adapter's spec with a
 * factory of empty stores with a budget of `perHour`.
 */
export function describeRegistrationBudgetStoreContract(adapter: string, create: (perHour: number) => Promise<RegistrationBudgetStore>): void {
  describe(`RegistrationBudgetStore contract: ${adapter}`, () => {
    it('allows perHour registrations at once, then answers the wait until the next one, spending nothing meanwhile', async () => {
      const store = await create(3);
      for (let i = 0; i < 3; i += 1) expect(await store.trySpend('203.0.113.7', T0)).toBe(0);
      expect(await store.trySpend('203.0.113.7', T0)).toBe(HOUR_MS / 3);
      expect(await store.trySpend('203.0.113.7', T0 + 10 * 60_000)).toBe(HOUR_MS / 3 - 10 * 60_000);
      // Refused attempts spent nothing: one more comes after an hour ÷ perHour.
      expect(await store.trySpend('203.0.113.7', T0 + HOUR_MS / 3)).toBe(0);
      expect(await store.trySpend('203.0.113.7', T0 + HOUR_MS / 3)).toBeGreaterThan(0);
    });

    it('counts each address on its own', async () => {
      const store = await create(1);
      expect(await store.trySpend('203.0.113.7', T0)).toBe(0);
      expect(await store.trySpend('198.51.100.1', T0)).toBe(0);
      expect(await store.trySpend('203.0.113.7', T0)).toBeGreaterThan(0);
    });

    it('refills continuously up to perHour, never beyond', async () => {
      const store = await create(2);
      expect(await store.trySpend('a', T0)).toBe(0);
      expect(await store.trySpend('a', T0)).toBe(0);
      // Three hours later the bucket is full (2), not 6.
      await store.prune(T0 + 3 * HOUR_MS);
      for (let i = 0; i < 2; i += 1) expect(await store.trySpend('a', T0 + 3 * HOUR_MS)).toBe(0);
      expect(await store.trySpend('a', T0 + 3 * HOUR_MS)).toBe(HOUR_MS / 2);
    });

    it('never refuses with a budget of 0 (unlimited)', async () => {
      const store = await create(0);
      for (let i = 0; i < 50; i += 1) expect(await store.trySpend('a', T0)).toBe(0);
    });

    it('spends exactly the budget when many registrations arrive at once', async () => {
      const store = await create(5);
      const answers = await Promise.all(Array.from({ length: 40 }, () => store.trySpend('flood', T0)));
      expect(answers.filter((wait) => wait === 0)).toHaveLength(5);
    });
  });
}
