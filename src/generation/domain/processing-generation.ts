/** One of a request's `n` generations, from the moment a server first takes it. */
export interface GenerationSlot {
  readonly index: number;
  state: 'waiting' | 'processing' | 'finished' | 'dropped';
  /** The id of the processing generation now working on it, if any. */
  attemptId?: string;
}

/**
 * One attempt at a slot: handed to one server by a pop, until the server submits its text or misses
 * its deadline (then the slot goes back to waiting, and this attempt may still be handed in late).
 */
export interface ProcessingGeneration {
  id: string;
  promptId: string;
  serverId: string;
  /** The model the server popped it for (a v2 worker may offer several). */
  model: string;
  slot: GenerationSlot;
  startedAt: number;
  /** When the slot goes back to waiting if no text has arrived (ms since the epoch). */
  deadline: number;
  state: 'processing' | 'overdue' | 'submitted' | 'superseded';
}
