import { Module } from '@nestjs/common';
import { GenerationModule } from '../generation/generation.module';
import { ServersModule } from '../servers/servers.module';
import { StatusModule } from '../status/status.module';
import { UsersModule } from '../users/users.module';
import { HordeController, UnitedAbortController } from './horde.controller';
import { HordeService } from './horde.service';

/** The AI Horde v2 text API (`/api/v2`), an adapter over the Generation, Servers, Users and Status services. */
@Module({
  imports: [GenerationModule, ServersModule, UsersModule, StatusModule],
  controllers: [HordeController, UnitedAbortController],
  providers: [HordeService],
})
export class HordeModule {}
