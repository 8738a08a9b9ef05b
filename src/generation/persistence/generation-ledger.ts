import { CheckInOutcome, CheckInUpdate } from '../../servers/persistence/server.repository';

/** One accepted generation's credit. */
export interface GenerationCredit {
  /** The request's username: its usage grows by `tokens`. */
  requester: string;
  /** The owner of the server that made it: their contributions grow by `tokens`. */
  serverOwner: string;
  /** The server that made it: one job of `tokens` in `seconds`. */
  serverId: string;
  tokens: number;
  seconds: number;
}

/**
 * Where the in-memory GenerationStore credits an accepted submit (the users' usage and contributions,
 * the server's jobs), right after the acceptance and in the same turn of the event loop, so no second
 * acceptance of the generation can come in between; and where it reads the owner of the generation's
 * server (ownerOf) before that turn; and through which its pop checks the server in (checkIn). The Redis
 * adapter needs none: its scripts check servers in, read owners and credit the Redis users and servers
 * themselves.
 */
export abstract class GenerationLedger {
  abstract credit(credit: GenerationCredit): Promise<void>;

  /**
   * The owner of the server now, or undefined when there is no such server: asked by a submit before it
   * accepts (the owner credited is the owner at submit; no server, no acceptance).
   */
  abstract ownerOf(serverId: string): Promise<string | undefined>;

  /** A pop's check-in, as ServerRepository.checkInByName: the in-memory store's popFor makes it before it takes a slot. */
  abstract checkIn(name: string, update: CheckInUpdate, provenPasswordHash: string): Promise<CheckInOutcome | undefined>;
}
