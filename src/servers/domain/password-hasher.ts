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
    return ['scrypt', COST, BLOCK_SIZE, PARALLELISM, salt.toString('base64'), key.toString('base64')].join('$');
  }

  /** Whether `password` was verified against `stored` before: no scrypt, nothing to wait for. */
  remembers(password: string, stored: string): boolean {
    const remembered = this.verified.get(stored);
    return remembered !== undefined && sameText(remembered, this.mac(password));
  }

  async verify(password: string, stored: string): Promise<boolean> {
    if (this.remembers(password, stored)) return true;
    const mac = this.mac(password);
    const parts = stored.split('$');
    if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
    const [, cost, blockSize, parallelism, salt, expected] = parts;
    const expectedKey = Buffer.from(expected, 'base64');
    const key = await scryptAsync(password, Buffer.from(salt, 'base64'), Number(cost), Number(blockSize), Number(parallelism));
    const ok = key.length === expectedKey.length && timingSafeEqual(key, expectedKey);
    if (ok) this.verified.set(stored, mac);
    return ok;
  }

  private mac(password: string): string {
    return digest('sha256', this.processSecret + password, 'base64');
  }
}
