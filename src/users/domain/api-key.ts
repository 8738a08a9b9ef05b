import { hash, randomBytes } from 'node:crypto';

/** The Horde's anonymous API key: requests made with it are counted for `Anonymous`. */
export const ANONYMOUS_API_KEY = '0000000000';

/** A new API key: 128 random bits, base64url (22 characters, as long as the Horde's own keys). */
export function newApiKey(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * What is stored of an API key: its SHA-256, hex. Not a password hash (scrypt) on purpose: an API key is
 * 128 random bits, so nobody can guess it from its hash however fast the hash is (2^128 tries), and a
 * slow hash would cost every v2 request (each one carries the key) tens of milliseconds of CPU.
 */
export function hashApiKey(apiKey: string): string {
  return hash('sha256', apiKey, 'hex');
}

/** A stored key hash: 64 lowercase hex digits. */
export function isApiKeyHash(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
}
