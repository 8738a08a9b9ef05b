import { Module } from '@nestjs/common';
import { serverRepositoryProvider } from './persistence/server-repository.provider';
import { ServersController } from './servers.controller';
import { ServersService } from './servers.service';

@Module({
  controllers: [ServersController],
  providers: [ServersService, serverRepositoryProvider],
  exports: [ServersService],
})
export class ServersModule {}
