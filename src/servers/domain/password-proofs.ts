/** Fingerprints remembered at most; past it, the one remembered first is forgotten. */
export const MAX_PROVEN_FINGERPRINTS = 10_000;
/**
 * Servers remembered per fingerprint at most; past it, the one proven first is forgotten. A server has one
 * password, so the ids under all fingerprints together are never more than the servers known: the bound
 * is for the list each submit sends to the store. It is not small because one password may be the
 * password of many servers (the v2 API: one API key for all of a user's workers); a key shared by more
 * workers than this has its oldest proofs forgotten, and their submits check the password again.
 */
export const MAX_SERVERS_PER_FINGERPRINT = 64;

/**
 * What this instance has seen proven: "the password of this fingerprint is the password of these
 * servers". A server's password never changes (its hash is set when it is created; deleting it and
 * registering the name again makes a new id), so a proof stays true for as long as it is kept. Kept in
 * this process's memory only, by the password's fingerprint (PasswordHasher.fingerprint, a keyed digest
 * that means nothing outside this process), bounded (insertion order: the oldest fingerprint goes first,
 * and the oldest server of a fingerprint), and safe to lose: a password not found here is checked again
 * against the server's stored hash.
 */
export class PasswordProofs {
  private readonly serversOf = new Map<string, string[]>();

  constructor(
    private readonly maxFingerprints = MAX_PROVEN_FINGERPRINTS,
    private readonly maxServersEach = MAX_SERVERS_PER_FINGERPRINT,
  ) {}

  /** Remembers that the password of `fingerprint` was verified for `serverId`. */
  remember(fingerprint: string, serverId: string): void {
    const ids = this.serversOf.get(fingerprint);
    if (ids === undefined) {
      this.serversOf.set(fingerprint, [serverId]);
      if (this.serversOf.size > this.maxFingerprints) this.serversOf.delete(this.serversOf.keys().next().value as string);
      return;
    }
    if (ids.includes(serverId)) return;
    ids.push(serverId);
    if (ids.length > this.maxServersEach) ids.shift();
  }

  /** The servers the password of `fingerprint` was verified for, as far as this instance remembers (a copy). */
  serversProvenBy(fingerprint: string): string[] {
    const ids = this.serversOf.get(fingerprint);
    return ids === undefined ? [] : [...ids];
  }

  /** Fingerprints remembered. */
  get size(): number {
    return this.serversOf.size;
  }
}
