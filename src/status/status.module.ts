import { Module } from '@nestjs/common';
import { GenerationModule } from '../generation/generation.module';
import { ServersModule } from '../servers/servers.module';
import { UsersModule } from '../users/users.module';
import { StatusPageController } from './status-page.controller';
import { StatusController } from './status.controller';
import { StatusService } from './status.service';

/** The status page at `/` and the JSON it reads (GET /status, GET /status/throughput). */
@Module({
  imports: [GenerationModule, ServersModule, UsersModule],
  controllers: [StatusController, StatusPageController],
  providers: [StatusService],
  exports: [StatusService],
})
export class StatusModule {}
