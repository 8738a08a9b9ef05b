/**
 * Port for the registration budget of client addresses (REGISTRATIONS_PER_HOUR_PER_ADDRESS): in this
 * process, or shared by every instance on one Redis, so that N instances give an address the budget once,
 * not N times. Each call is one atomic step.
 */
export abstract class RegistrationBudgetStore {
  /**
   * Spends one registration of `address` if it has one left, answering 0; otherwise spends nothing and
   * answers the milliseconds until it has one again.
   */
  abstract trySpend(address: string, now: number): Promise<number>;
  /** Forgets addresses whose budget is full again (the sweep runs it; a store whose entries expire by themselves may do nothing). */
  abstract prune(now: number): Promise<void>;
}
