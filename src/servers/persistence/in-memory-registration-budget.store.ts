import { RegistrationBudget } from '../domain/registration-budget';
import { RegistrationBudgetStore } from './registration-budget.store';

/** The registration budget in this process (the default store). */
export class InMemoryRegistrationBudgetStore extends RegistrationBudgetStore {
  private readonly budget: RegistrationBudget;

  constructor(perHour: number) {
    super();
    this.budget = new RegistrationBudget(perHour);
  }

  trySpend(address: string, now: number): Promise<number> {
    const waitMs = this.budget.waitMs(address, now);
    if (waitMs === 0) this.budget.spend(address, now);
    return Promise.resolve(waitMs);
  }

  prune(now: number): Promise<void> {
    this.budget.prune(now);
    return Promise.resolve();
  }

  get trackedAddresses(): number {
    return this.budget.trackedAddresses;
  }
}
