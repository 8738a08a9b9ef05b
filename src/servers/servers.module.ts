import { Module } from '@nestjs/common';
import { ActiveServersList } from './active-servers-list';
import { serverRepositoryProvider } from './persistence/server-repository.provider';
import { ServersController } from './servers.controller';
import { ServersService } from './servers.service';

@Module({
  controllers: [ServersController],
  providers: [ServersService, ActiveServersList, serverRepositoryProvider],
  exports: [ServersService],
})
export class ServersModule {}
