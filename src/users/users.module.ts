import { Module } from '@nestjs/common';
import { GenerationStoreModule } from '../generation/persistence/generation-store.module';
import { UserAccountsModule } from './user-accounts.module';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  imports: [UserAccountsModule, GenerationStoreModule],
  controllers: [UsersController],
  providers: [UsersService],
  exports: [UsersService],
})
export class UsersModule {}
