import { hash as digest, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const KEY_LENGTH = 32;
const COST = 16384;
const BLOCK_SIZE = 8;
const PARALLELISM = 1;

function scryptAsync(password: string, salt: Buffer, cost: number, blockSize: number, parallelism: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { N: cost, r: blockSize, p: parallelism, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** scrypt's working memory is 128 × N × r bytes; a stored hash asking for more than this is refused. */
const MAX_SCRYPT_MEMORY = 32 * 1024 * 1024;

/** The parameters of a stored hash (`scrypt$N$r$p$salt$key`), or null when it is not one this hasher can check. */
function parseHash(stored: unknown): { cost: number; blockSize: number; parallelism: number; salt: Buffer; key: Buffer } | null {
  if (typeof stored !== 'string') return null;
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt' || !BASE64.test(parts[4]) || !BASE64.test(parts[5])) return null;
  const [cost, blockSize, parallelism] = parts.slice(1, 4).map((part) => (/^[1-9]\d{0,7}$/.test(part) ? Number(part) : NaN));
  const salt = Buffer.from(parts[4], 'base64');
  const key = Buffer.from(parts[5], 'base64');
  const powerOfTwo = cost >= 2 && (cost & (cost - 1)) === 0;
  if (!powerOfTwo || !(blockSize >= 1 && blockSize <= 32) || !(parallelism >= 1 && parallelism <= 16)) return null;
  if (128 * cost * blockSize > MAX_SCRYPT_MEMORY || salt.length < 8 || key.length !== KEY_LENGTH) return null;
  return { cost, blockSize, parallelism, salt, key };
}

/** Whether `stored` is a scrypt hash (`scrypt$N$r$p$salt$key`) with parameters this hasher can check. */
export function isValidScryptHash(stored: unknown): boolean {
  return parseHash(stored) !== null;
}

/** Whether two strings of the same length are equal, in a time that does not depend on where they differ. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/**
 * Server passwords, hashed with scrypt (node:crypto). Since bridges send the password with every pop,
 * a password that verified once is remembered in memory only, never in plain text: as the SHA-256 of a
 * secret that lives and dies with the process followed by the password, so the hot path does not pay
 * scrypt on every pop. (A one-shot `crypto.hash` costs a fraction of an HMAC object per pop; the
 * digest never leaves the process, so the keyed hash needs no more than that.)
 */
export class PasswordHasher {
  private readonly processSecret = randomBytes(32).toString('base64');
  private readonly verified = new Map<string, string>();

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await scryptAsync(password, salt, COST, BLOCK_SIZE, PARALLELISM);
    const stored = ['scrypt', COST, BLOCK_SIZE, PARALLELISM, salt.toString('base64'), key.toString('base64')].join('$');
    // The password that made the hash is right by definition: the server that registered a name is
    // recognised at once on its next pops, never counted as a guess (see the wrong-password limit).
    this.verified.set(stored, this.fingerprint(password));
    return stored;
  }

  /** Whether `password` was verified against `stored` before: no scrypt, nothing to wait for. */
  remembers(password: string, stored: string): boolean {
    const remembered = this.verified.get(stored);
    return remembered !== undefined && sameText(remembered, this.fingerprint(password));
  }

  async verify(password: string, stored: string): Promise<boolean> {
    if (this.remembers(password, stored)) return true;
    const mac = this.fingerprint(password);
    // A stored hash that is not a valid scrypt hash matches no password: a 401, never a 500.
    const parsed = parseHash(stored);
    if (!parsed) return false;
    let key: Buffer;
    try {
      key = await scryptAsync(password, parsed.salt, parsed.cost, parsed.blockSize, parsed.parallelism);
    } catch {
      return false;
    }
    const ok = key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
    if (ok) this.verified.set(stored, mac);
    return ok;
  }

  /**
   * The password's keyed digest in this process (SHA-256 of the process secret followed by the password):
   * equal for equal passwords, useless outside this process. What the process may keep to recognise a
   * password it has seen (here, and the proofs of ServersService); never logged, never sent anywhere.
   */
  fingerprint(password: string): string {
    return digest('sha256', this.processSecret + password, 'base64');
  }
}
