import { Module } from '@nestjs/common';
import { ActiveServersList } from './active-servers-list';
import { registrationBudgetStoreProvider } from './persistence/registration-budget-store.provider';
import { serverRepositoryProvider } from './persistence/server-repository.provider';
import { ServerRepository } from './persistence/server.repository';
import { staleServersCursorProvider } from './persistence/stale-servers-cursor.provider';
import { authFailureCountersProvider } from '../common/rate-limit/auth-failure-counters.provider';
import { AuthFailureLimiter } from '../common/rate-limit/auth-failure-limiter';
import { PasswordHasher } from './domain/password-hasher';
import { ServersController } from './servers.controller';
import { ServersService } from './servers.service';

@Module({
  controllers: [ServersController],
  providers: [ServersService, ActiveServersList, PasswordHasher, AuthFailureLimiter, authFailureCountersProvider, serverRepositoryProvider, registrationBudgetStoreProvider, staleServersCursorProvider],
  // The repository too: the in-memory generation store checks servers in through it (AccountsLedger.checkIn).
  exports: [ServersService, ServerRepository],
})
export class ServersModule {}
