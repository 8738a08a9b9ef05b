import { Module } from '@nestjs/common';
import { userRepositoryProvider } from './persistence/user-repository.provider';
import { UserRepository } from './persistence/user.repository';

/**
 * The users' accounts store (UserRepository), on its own so that the generation store can credit a
 * submit without depending on UsersModule (which counts unfinished requests from the generation store).
 */
@Module({
  providers: [userRepositoryProvider],
  exports: [UserRepository],
})
export class UserAccountsModule {}
