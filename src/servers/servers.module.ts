import { Module } from '@nestjs/common';
import { ActiveServersList } from './active-servers-list';
import { InMemoryServerRepository } from './persistence/in-memory-server.repository';
import { ServerRepository } from './persistence/server.repository';
import { ServersController } from './servers.controller';
import { ServersService } from './servers.service';

@Module({
  controllers: [ServersController],
  providers: [ServersService, ActiveServersList, { provide: ServerRepository, useClass: InMemoryServerRepository }],
  exports: [ServersService],
})
export class ServersModule {}
