import { Injectable } from '@nestjs/common';
import { CheckInOutcome, CheckInUpdate, ServerRepository } from '../../servers/persistence/server.repository';
import { ServersService } from '../../servers/servers.service';
import { UserRepository } from '../../users/persistence/user.repository';
import { GenerationCredit, GenerationLedger } from './generation-ledger';

/** The in-memory store's ledger: credits the users (usage, contributions) and the server's job through their stores; reads owners from the servers and checks them in. */
@Injectable()
export class AccountsLedger extends GenerationLedger {
  constructor(
    private readonly users: UserRepository,
    private readonly servers: ServersService,
    private readonly serverRepository: ServerRepository,
  ) {
    super();
  }

  async credit(credit: GenerationCredit): Promise<void> {
    // All three started in the caller's turn.
    await Promise.all([
      this.servers.recordJob(credit.serverId, { tokens: credit.tokens, seconds: credit.seconds }),
      this.users.addUsage(credit.requester, credit.tokens),
      this.users.addContribution(credit.serverOwner, credit.tokens),
    ]);
  }

  async ownerOf(serverId: string): Promise<string | undefined> {
    return (await this.servers.findById(serverId))?.owner;
  }

  checkIn(name: string, update: CheckInUpdate, provenPasswordHash: string): Promise<CheckInOutcome | undefined> {
    return this.serverRepository.checkInByName(name, update, provenPasswordHash);
  }
}
