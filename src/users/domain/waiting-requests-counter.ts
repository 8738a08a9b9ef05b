/**
 * Port: how many unfinished requests a user has. Requests belong to the generation store, which
 * provides the implementation; the Users module only declares what it needs.
 */
export abstract class WaitingRequestsCounter {
  abstract countUnfinished(username: string): Promise<number>;
}
