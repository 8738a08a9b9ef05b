/** What an advance of the cursor claimed: nothing, or the last-seen times in (from, to]; `from` undefined when the cursor was never set. */
export type StaleClaim = { claimed: false } | { claimed: true; from: number | undefined };

/**
 * Port: how far the "server went stale" notices have been given. The sweep of every instance advances it
 * to its own stale cut-off (now − STALE_SERVER_SECONDS); each advance claims the interval of last-seen
 * times between the previous position and the new one, atomically, so that with N instances on one
 * store every server that goes stale is noticed (logged) by one of them only.
 */
export abstract class StaleServersCursor {
  /** Moves the cursor to `to` if it is behind it (or unset), claiming the interval in between; claims nothing otherwise. */
  abstract advance(to: number): Promise<StaleClaim>;
}

/** The cursor in this process (the default store). */
export class InMemoryStaleServersCursor extends StaleServersCursor {
  private position: number | undefined;

  advance(to: number): Promise<StaleClaim> {
    if (this.position !== undefined && this.position >= to) return Promise.resolve({ claimed: false });
    const from = this.position;
    this.position = to;
    return Promise.resolve({ claimed: true, from });
  }
}
