import { Injectable } from '@nestjs/common';
import { WaitingRequestsCounter } from '../../users/domain/waiting-requests-counter';
import { GenerationStore } from './generation.store';

/** The Users module's WaitingRequestsCounter port, answered from the generation store. */
@Injectable()
export class WaitingRequestsCounterAdapter extends WaitingRequestsCounter {
  constructor(private readonly store: GenerationStore) {
    super();
  }

  countUnfinished(username: string): Promise<number> {
    return this.store.countUnfinishedByUsername(username);
  }
}
