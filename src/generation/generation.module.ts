import { Module } from '@nestjs/common';
import { ServersModule } from '../servers/servers.module';
import { UsersModule } from '../users/users.module';
import { ClusterSweeper } from './cluster-sweeper';
import { FairShare } from './fair-share';
import { GenerationController } from './generation.controller';
import { GenerationService } from './generation.service';
import { GenerationStoreModule } from './persistence/generation-store.module';
import { SyncCompletions } from './sync-completions';

/** GenerationService is exported for the read-only views of the queue (metrics, status page) and other APIs over it. */
@Module({
  imports: [GenerationStoreModule, ServersModule, UsersModule],
  controllers: [GenerationController],
  providers: [GenerationService, SyncCompletions, FairShare, ClusterSweeper],
  exports: [GenerationService],
})
export class GenerationModule {}
