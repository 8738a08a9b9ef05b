import { Injectable } from '@nestjs/common';
import { WaitingRequestsCounter } from '../../users/domain/waiting-requests-counter';
import { WaitingPromptRepository } from './waiting-prompt.repository';

/** The Users module's WaitingRequestsCounter port, answered from the requests held here. */
@Injectable()
export class WaitingRequestsCounterAdapter extends WaitingRequestsCounter {
  constructor(private readonly prompts: WaitingPromptRepository) {
    super();
  }

  countUnfinished(username: string): number {
    return this.prompts.countUnfinishedByUsername(username);
  }
}
