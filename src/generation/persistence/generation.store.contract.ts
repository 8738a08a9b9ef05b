import { GenerationStore } from './generation.store';

/** What the adapter under test credited, read from where it credits (a fake ledger in memory; the Redis users and servers in Redis). */
export interface CreditedTotals {
  /** Tokens used by a username's requests. */
  usage(username: string): Promise<number>;
  /** Tokens a username's servers generated. */
  contributions(username: string): Promise<number>;
  /** Jobs credited to a server: how many, their tokens, their seconds summed. */
  serverJobs(serverId: string): Promise<{ jobs: number; tokens: number; seconds: number }>;
}

/** A fresh, empty store for one test, how to read what it credited, and how to dispose of it. */
export interface GenerationStoreFixture {
  store: GenerationStore;
  credited: CreditedTotals;
  /** Makes a server known to the accounts the store credits (a no-op where credits need no server record). Called before its first pop. */
  addServer(serverId: string, owner: string): Promise<void>;
  dispose?: () => Promise<void>;
}

/**
 * The behaviour every GenerationStore adapter must have: run it from each adapter's spec with a factory
 * of empty stores (`describeGenerationStoreContract('in memory', async () => ...)`). Time is passed in
 * explicitly; nothing here reads an adapter's internals.
 */
export function describeGenerationStoreContract(adapter: string, create: () => Promise<GenerationStoreFixture>): void {
  describe(`GenerationStore contract: ${adapter}`, () => {
    let fixture: GenerationStoreFixture;

    beforeEach(async () => {
      fixture = await create();
    });
    afterEach(async () => {
      await fixture.dispose?.();
    });

    it('holds nothing at first', async () => {
      await expect(fixture.store.findRequest('nope')).resolves.toBeUndefined();
    });
  });
}
