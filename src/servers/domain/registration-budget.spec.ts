import { RegistrationBudget } from './registration-budget';

describe('RegistrationBudget', () => {
  it('allows a burst of the hourly budget per address, then one more every hour ÷ budget', () => {
    const budget = new RegistrationBudget(4);
    for (let i = 0; i < 4; i++) {
      expect(budget.waitMs('10.0.0.1', 0)).toBe(0);
      budget.spend('10.0.0.1', 0);
    }
    expect(budget.waitMs('10.0.0.1', 0)).toBe(15 * 60_000);
    expect(budget.waitMs('10.0.0.2', 0)).toBe(0);
    expect(budget.waitMs('10.0.0.1', 15 * 60_000 - 1)).toBeGreaterThan(0);
    expect(budget.waitMs('10.0.0.1', 15 * 60_000)).toBe(0);
  });

  it('forgets addresses whose budget is full again', () => {
    const budget = new RegistrationBudget(2);
    budget.spend('a', 0);
    budget.spend('a', 0);
    budget.prune(30 * 60_000);
    expect(budget.trackedAddresses).toBe(1);
    budget.prune(60 * 60_000);
    expect(budget.trackedAddresses).toBe(0);
  });

  it('is unlimited with a budget of 0', () => {
    const budget = new RegistrationBudget(0);
    for (let i = 0; i < 1000; i++) budget.spend('a', 0);
    expect(budget.waitMs('a', 0)).toBe(0);
    expect(budget.trackedAddresses).toBe(0);
  });
});
