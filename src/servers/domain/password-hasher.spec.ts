import { isValidScryptHash, PasswordHasher } from './password-hasher';

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

  it('fingerprints a password the same way within a process, differently in another, never as the password itself', () => {
    const hasher = new PasswordHasher();
    const fingerprint = hasher.fingerprint('secret');
    expect(hasher.fingerprint('secret')).toBe(fingerprint);
    expect(hasher.fingerprint('secret!')).not.toBe(fingerprint);
    expect(new PasswordHasher().fingerprint('secret')).not.toBe(fingerprint);
    expect(fingerprint).not.toContain('secret');
  });

  it('verifies hashes made by another process (salted scrypt, no process state needed)', async () => {
    const hash = await new PasswordHasher().hash('secret');
    await expect(new PasswordHasher().verify('secret', hash)).resolves.toBe(true);
  });

  it('remembers only a password it verified or hashed, for that hash', async () => {
    const hasher = new PasswordHasher();
    const hash = await new PasswordHasher().hash('secret');
    expect(hasher.remembers('secret', hash)).toBe(false);
    await hasher.verify('secret', hash);
    expect(hasher.remembers('secret', hash)).toBe(true);
    expect(hasher.remembers('Secret', hash)).toBe(false);
    expect(hasher.remembers('secret', await new PasswordHasher().hash('secret'))).toBe(false);
  });

  it('remembers the password of a hash it made (a server that just registered its name is no guesser)', async () => {
    const hasher = new PasswordHasher();
    const hash = await hasher.hash('secret');
    expect(hasher.remembers('secret', hash)).toBe(true);
    expect(hasher.remembers('Secret', hash)).toBe(false);
  });

  it('refuses a malformed stored hash', async () => {
    await expect(new PasswordHasher().verify('secret', 'plain-text')).resolves.toBe(false);
  });

  it.each([
    ['a cost that is not a power of two', (h: string) => h.replace('$16384$', '$16385$')],
    ['a cost needing more than 32 MiB', (h: string) => h.replace('$16384$', '$1048576$')],
    ['a zero block size', (h: string) => h.replace('$16384$8$', '$16384$0$')],
    ['a parallelism that is not a number', (h: string) => h.replace('$16384$8$1$', '$16384$8$x$')],
    ['a key of the wrong length', (h: string) => h.slice(0, h.lastIndexOf('$') + 1) + 'AAAA'],
    ['a salt that is not base64', (h: string) => h.replace(/\$[^$]+\$([^$]+)$/, '$*not base64*$$$1')],
  ])('never throws on a stored hash with %s: it matches no password, and is not a valid hash', async (_what, corrupt) => {
    const hash = corrupt(await new PasswordHasher().hash('secret'));
    expect(isValidScryptHash(hash)).toBe(false);
    await expect(new PasswordHasher().verify('secret', hash)).resolves.toBe(false);
  });

  it('recognises its own hashes as valid', async () => {
    expect(isValidScryptHash(await new PasswordHasher().hash('secret'))).toBe(true);
    expect(isValidScryptHash(42)).toBe(false);
  });
});
