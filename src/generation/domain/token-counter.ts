import { encode } from 'gpt-tokenizer/encoding/gpt2';

/** Counts tokens with GPT-2's byte-pair encoding, the tokenizer family of the seed's models. */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : encode(text).length;
}
