import { Module } from '@nestjs/common';
import { ServersModule } from '../../servers/servers.module';
import { WaitingRequestsCounter } from '../../users/domain/waiting-requests-counter';
import { UserAccountsModule } from '../../users/user-accounts.module';
import { AccountsLedger } from './accounts-ledger';
import { generationStoreProvider } from './generation-store.provider';
import { GenerationLedger } from './generation-ledger';
import { GenerationStore } from './generation.store';
import { WaitingRequestsCounterAdapter } from './waiting-requests-counter.adapter';

/**
 * The store of the requests in flight, apart from GenerationModule so that the Users module can count a
 * user's unfinished requests (its WaitingRequestsCounter port) without an import cycle: this module needs
 * only the user accounts and the servers (to credit a submit), never UsersModule.
 */
@Module({
  imports: [UserAccountsModule, ServersModule],
  providers: [generationStoreProvider, { provide: GenerationLedger, useClass: AccountsLedger }, { provide: WaitingRequestsCounter, useClass: WaitingRequestsCounterAdapter }],
  exports: [GenerationStore, WaitingRequestsCounter],
})
export class GenerationStoreModule {}
