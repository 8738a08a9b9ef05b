/**
 * Port: how many unfinished requests a user has. Requests belong to the Generation module, which
 * provides the implementation; the Users module only declares what it needs.
 */
export abstract class WaitingRequestsCounter {
  abstract countUnfinished(username: string): number;
}
