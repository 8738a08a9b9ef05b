import { GenerationCredit, GenerationLedger } from '../../src/generation/persistence/generation-ledger';

/**
 * A GenerationLedger for tests: records every credit, so a test can check each accepted text is credited
 * once; the servers' owners are `owners` (a server not there has the owner `defaultOwner`, unless that is
 * null: then it does not exist).
 */
export class RecordingLedger extends GenerationLedger {
  readonly credits: GenerationCredit[] = [];
  readonly owners = new Map<string, string>();

  constructor(private readonly defaultOwner: string | null = 'owner') {
    super();
  }

  credit(credit: GenerationCredit): Promise<void> {
    this.credits.push(credit);
    return Promise.resolve();
  }

  ownerOf(serverId: string): Promise<string | undefined> {
    return Promise.resolve(this.owners.get(serverId) ?? this.defaultOwner ?? undefined);
  }
}
