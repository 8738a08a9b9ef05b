import { GenerationCredit, GenerationLedger } from '../../src/generation/persistence/generation-ledger';

/** A GenerationLedger for tests: records every credit, so a test can check each accepted text is credited once. */
export class RecordingLedger extends GenerationLedger {
  readonly credits: GenerationCredit[] = [];

  credit(credit: GenerationCredit): Promise<void> {
    this.credits.push(credit);
    return Promise.resolve();
  }
}
