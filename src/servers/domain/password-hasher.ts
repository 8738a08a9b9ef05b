import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

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

/**
 * Server passwords, hashed with scrypt (node:crypto). Since bridges send the password with every pop,
 * a password that verified once is remembered in memory only, as an HMAC under a key that lives and
 * dies with the process, so the hot path does not pay scrypt on every pop.
 */
export class PasswordHasher {
  private readonly processKey = randomBytes(32);
  private readonly verified = new Map<string, Buffer>();

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await scryptAsync(password, salt, COST, BLOCK_SIZE, PARALLELISM);
    return ['scrypt', COST, BLOCK_SIZE, PARALLELISM, salt.toString('base64'), key.toString('base64')].join('$');
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const remembered = this.verified.get(stored);
    const mac = this.mac(password);
    if (remembered && timingSafeEqual(remembered, mac)) return true;
    const parts = stored.split('$');
    if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
    const [, cost, blockSize, parallelism, salt, expected] = parts;
    const expectedKey = Buffer.from(expected, 'base64');
    const key = await scryptAsync(password, Buffer.from(salt, 'base64'), Number(cost), Number(blockSize), Number(parallelism));
    const ok = key.length === expectedKey.length && timingSafeEqual(key, expectedKey);
    if (ok) this.verified.set(stored, mac);
    return ok;
  }

  private mac(password: string): Buffer {
    return createHmac('sha256', this.processKey).update(password).digest();
  }
}
