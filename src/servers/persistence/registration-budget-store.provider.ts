import { Provider } from '@nestjs/common';
import { RedisConnection } from '../../common/redis/redis-connection';
import { AppConfig } from '../../config/app-config';
import { InMemoryRegistrationBudgetStore } from './in-memory-registration-budget.store';
import { RedisRegistrationBudgetStore } from './redis-registration-budget.store';
import { RegistrationBudgetStore } from './registration-budget.store';

/** The registration budget: in this process by default, shared in Redis when REDIS_URL is set. */
export const registrationBudgetStoreProvider: Provider = {
  provide: RegistrationBudgetStore,
  inject: [AppConfig, { token: RedisConnection, optional: true }],
  useFactory: (config: AppConfig, redis?: RedisConnection): RegistrationBudgetStore =>
    redis
      ? new RedisRegistrationBudgetStore(redis, config.REGISTRATIONS_PER_HOUR_PER_ADDRESS)
      : new InMemoryRegistrationBudgetStore(config.REGISTRATIONS_PER_HOUR_PER_ADDRESS),
};
