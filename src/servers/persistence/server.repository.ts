import { KoboldServer, ServerCapabilities, ServerJob, ServerSettings } from '../domain/kobold-server';

export interface CheckInUpdate extends ServerCapabilities {
  owner: string;
  lastSeenAt: number;
}

export interface CheckInOutcome {
  /** The server as it was before this check-in. */
  before: KoboldServer;
  /** Whether the update was applied (the proven hash was the server's). */
  checkedIn: boolean;
}

/** A server as it was before a pop's check-in: what a pop needs of it (GenerationStore.popFor answers it). */
export type ServerBeforeCheckIn = Pick<KoboldServer, 'id' | 'name' | 'owner' | 'model' | 'maxLength' | 'maxContentLength' | 'lastSeenAt' | 'maintenance'>;

/**
 * Port for the known servers. Async so that a networked store can implement it later; each update is
 * one call, so concurrent pops and submits cannot overwrite each other's changes.
 */
export abstract class ServerRepository {
  abstract findById(id: string): Promise<KoboldServer | undefined>;
  abstract findByName(name: string): Promise<KoboldServer | undefined>;
  /** Servers seen after `since` (ms since the epoch). Must cost O(servers seen since), not O(all servers ever known). */
  abstract findSeenSince(since: number): Promise<KoboldServer[]>;
  /**
   * Adds a new server; returns the one already holding the name instead, if any. Resolves only once the
   * new server is stored durably (a crash right after cannot lose it); rejects when it cannot be.
   */
  abstract create(server: KoboldServer): Promise<KoboldServer>;
  /**
   * A pop's check-in, in one step: the server holding `name` gets `update` (owner, model, limits, last
   * seen) if `provenPasswordHash` is its password hash, i.e. the caller has verified the pop's password
   * against that very hash; otherwise nothing changes. Answers the server as it was BEFORE the update
   * and whether it was checked in, or undefined when no server holds the name. (One call, so a networked
   * adapter pays one round trip for the pops of a known server; a caller without a proven hash reads the
   * server here, checks the password against `before.passwordHash`, and calls again with it.)
   */
  abstract checkInByName(name: string, update: CheckInUpdate, provenPasswordHash: string | undefined): Promise<CheckInOutcome | undefined>;
  abstract addJob(id: string, job: ServerJob): Promise<KoboldServer | undefined>;
  /** Changes its owner's settings (maintenance, info); answers the server after, undefined when there is none. */
  abstract updateSettings(id: string, settings: ServerSettings): Promise<KoboldServer | undefined>;
  /** Deletes one server, freeing its name; answers it as it was, undefined when there was none. */
  abstract deleteById(id: string): Promise<KoboldServer | undefined>;
  /**
   * The version of the active list as every instance sees it: changes with markListChanged. Instances
   * compare it to tell whether a copy of the active servers they keep is still good (stats aside).
   */
  abstract listVersion(): Promise<number>;
  /** A server joined or left the active list, or changed its offer, owner or maintenance: every instance's copy is out of date. */
  abstract markListChanged(): Promise<void>;
  /**
   * Deletes the servers that never fulfilled a request (requestsFulfilled 0) and were last seen at or
   * before `seenBefore` (ms since the epoch), freeing their names; answers the names deleted.
   */
  abstract deleteUnusedSeenBefore(seenBefore: number): Promise<string[]>;
}
