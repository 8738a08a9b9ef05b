import { Global, Module } from '@nestjs/common';
import { ServersModule } from '../servers/servers.module';
import { WaitingRequestsCounter } from '../users/domain/waiting-requests-counter';
import { UsersModule } from '../users/users.module';
import { ClusterSweeper } from './cluster-sweeper';
import { GenerationController } from './generation.controller';
import { GenerationService } from './generation.service';
import { InMemoryWaitingPromptRepository } from './persistence/in-memory-waiting-prompt.repository';
import { WaitingPromptRepository } from './persistence/waiting-prompt.repository';
import { WaitingRequestsCounterAdapter } from './persistence/waiting-requests-counter.adapter';

/**
 * Global only so that the Users module can reach its WaitingRequestsCounter port without an import cycle.
 * GenerationService is exported for the read-only views of the queue (metrics, status page).
 */
@Global()
@Module({
  imports: [ServersModule, UsersModule],
  controllers: [GenerationController],
  providers: [
    GenerationService,
    ClusterSweeper,
    { provide: WaitingPromptRepository, useClass: InMemoryWaitingPromptRepository },
    { provide: WaitingRequestsCounter, useClass: WaitingRequestsCounterAdapter },
  ],
  exports: [WaitingRequestsCounter, GenerationService],
})
export class GenerationModule {}
