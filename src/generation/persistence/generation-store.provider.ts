import { Provider } from '@nestjs/common';
import { RedisConnection } from '../../common/redis/redis-connection';
import { GenerationLedger } from './generation-ledger';
import { GenerationStore } from './generation.store';
import { InMemoryGenerationStore } from './in-memory-generation.store';
import { RedisGenerationStore } from './redis-generation.store';

/**
 * The requests in flight: in this process's memory by default; in Redis when REDIS_URL is set (credits are
 * then made by the store's scripts in Redis, in the same step as the submit, so the ledger is not used).
 */
export const generationStoreProvider: Provider = {
  provide: GenerationStore,
  inject: [GenerationLedger, { token: RedisConnection, optional: true }],
  useFactory: (ledger: GenerationLedger, redis?: RedisConnection): GenerationStore => (redis ? new RedisGenerationStore(redis) : new InMemoryGenerationStore(ledger)),
};
