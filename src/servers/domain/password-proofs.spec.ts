import { PasswordProofs } from './password-proofs';

describe('PasswordProofs', () => {
  it('remembers the servers proven by each fingerprint, once each, and nothing for another fingerprint', () => {
    const proofs = new PasswordProofs();
    proofs.remember('fp-a', 's1');
    proofs.remember('fp-a', 's2');
    proofs.remember('fp-a', 's1');
    proofs.remember('fp-b', 's3');
    expect(proofs.serversProvenBy('fp-a')).toEqual(['s1', 's2']);
    expect(proofs.serversProvenBy('fp-b')).toEqual(['s3']);
    expect(proofs.serversProvenBy('fp-c')).toEqual([]);
  });

  it('answers a copy: changing it changes nothing remembered', () => {
    const proofs = new PasswordProofs();
    proofs.remember('fp', 's1');
    proofs.serversProvenBy('fp').push('s2');
    expect(proofs.serversProvenBy('fp')).toEqual(['s1']);
  });

  it('keeps at most its bounds: the fingerprint remembered first goes first, and the server proven first of a fingerprint', () => {
    const proofs = new PasswordProofs(3, 2);
    for (const fp of ['a', 'b', 'c', 'd']) proofs.remember(fp, `s-${fp}`);
    expect(proofs.size).toBe(3);
    expect(proofs.serversProvenBy('a')).toEqual([]);
    expect(proofs.serversProvenBy('d')).toEqual(['s-d']);
    proofs.remember('b', 's2');
    proofs.remember('b', 's3');
    expect(proofs.serversProvenBy('b')).toEqual(['s2', 's3']);
  });
});
