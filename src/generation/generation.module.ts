import { Module } from '@nestjs/common';
import { ServersModule } from '../servers/servers.module';
import { UsersModule } from '../users/users.module';
import { ClusterSweeper } from './cluster-sweeper';
import { GenerationController } from './generation.controller';
import { GenerationService } from './generation.service';
import { InMemoryWaitingPromptRepository } from './persistence/in-memory-waiting-prompt.repository';
import { WaitingPromptRepository } from './persistence/waiting-prompt.repository';

@Module({
  imports: [ServersModule, UsersModule],
  controllers: [GenerationController],
  providers: [GenerationService, ClusterSweeper, { provide: WaitingPromptRepository, useClass: InMemoryWaitingPromptRepository }],
  exports: [GenerationService],
})
export class GenerationModule {}
