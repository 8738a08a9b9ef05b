import { Provider } from '@nestjs/common';
import { RedisConnection } from '../../common/redis/redis-connection';
import { GenerationLedger } from './generation-ledger';
import { GenerationStore } from './generation.store';
import { InMemoryGenerationStore } from './in-memory-generation.store';

/** The requests in flight: in this process's memory by default; in Redis when REDIS_URL is set. */
export const generationStoreProvider: Provider = {
  provide: GenerationStore,
  inject: [GenerationLedger, { token: RedisConnection, optional: true }],
  // TODO(issue 13): with `redis` set, answer `new RedisGenerationStore(redis)` from
  // src/generation/persistence/redis-generation.store.ts (being written on its own branch; wired at merge).
  // Until then both modes keep the requests in memory.
  useFactory: (ledger: GenerationLedger, _redis?: RedisConnection): GenerationStore => new InMemoryGenerationStore(ledger),
};
