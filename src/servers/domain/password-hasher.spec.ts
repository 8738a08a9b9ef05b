import { PasswordHasher } from './password-hasher';

describe('PasswordHasher', () => {
  it('verifies the right password and refuses others', async () => {
    const hasher = new PasswordHasher();
    const hash = await hasher.hash('secret');
    expect(hash).not.toContain('secret');
    expect(hash.startsWith('scrypt$')).toBe(true);
    await expect(hasher.verify('secret', hash)).resolves.toBe(true);
    await expect(hasher.verify('secret!', hash)).resolves.toBe(false);
    // The remembered verification must not let another password through either.
    await expect(hasher.verify('Secret', hash)).resolves.toBe(false);
  });

  it('verifies hashes made by another process (salted scrypt, no process state needed)', async () => {
    const hash = await new PasswordHasher().hash('secret');
    await expect(new PasswordHasher().verify('secret', hash)).resolves.toBe(true);
  });

  it('remembers only a password it verified, for that hash', async () => {
    const hasher = new PasswordHasher();
    const hash = await hasher.hash('secret');
    expect(hasher.remembers('secret', hash)).toBe(false);
    await hasher.verify('secret', hash);
    expect(hasher.remembers('secret', hash)).toBe(true);
    expect(hasher.remembers('Secret', hash)).toBe(false);
    expect(hasher.remembers('secret', await hasher.hash('secret'))).toBe(false);
  });

  it('refuses a malformed stored hash', async () => {
    await expect(new PasswordHasher().verify('secret', 'plain-text')).resolves.toBe(false);
  });
});
