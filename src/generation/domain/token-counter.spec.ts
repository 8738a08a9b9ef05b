import { encode } from 'gpt-tokenizer/encoding/gpt2';
import { countTokens, TOKENIZER_CHUNK_CHARS } from './token-counter';

describe('countTokens', () => {
  it('counts GPT-2 tokens', () => {
    expect(countTokens('')).toBe(0);
    expect(countTokens(' as he stood before me.')).toBe(encode(' as he stood before me.').length);
  });

  it('counts long ordinary text exactly, though it is tokenized in pieces', () => {
    const words = ['the', 'clown', 'argued,', 'and', 'I', 'lost.', '\n\n', 'Then', 'we', 'danced', '  twice'];
    const text = Array.from({ length: 5000 }, (_, i) => words[(i * 7) % words.length]).join(' ');
    expect(text.length).toBeGreaterThan(10 * TOKENIZER_CHUNK_CHARS);
    expect(countTokens(text)).toBe(encode(text).length);
  });

  it('counts <|endoftext|> as plain text instead of throwing', () => {
    expect(countTokens('The end.<|endoftext|>')).toBe(encode('The end.<|endoftext|>', { disallowedSpecial: new Set() }).length);
  });

  it('counts a megabyte without spaces quickly and without overflowing the stack', () => {
    const started = Date.now();
    expect(countTokens('a'.repeat(1_000_000))).toBeGreaterThan(200_000);
    expect(countTokens('漢字'.repeat(500_000))).toBeGreaterThan(1_000_000);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('never splits a surrogate pair', () => {
    const text = 'x' + '💩'.repeat(2 * TOKENIZER_CHUNK_CHARS);
    expect(countTokens(text)).toBe(countTokens('x') + 2 * TOKENIZER_CHUNK_CHARS * countTokens('💩'));
  });

  it('counts lone surrogates and NUL characters', () => {
    expect(countTokens('\ud800 \udfff \u0000')).toBeGreaterThan(0);
  });
});
