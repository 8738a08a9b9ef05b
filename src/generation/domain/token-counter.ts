import { countTokens as countGpt2Tokens } from 'gpt-tokenizer/encoding/gpt2';

/** Longest piece handed to the tokenizer at once: its byte-pair merge is quadratic in a word's length. */
export const TOKENIZER_CHUNK_CHARS = 1024;

/** Special tokens such as `<|endoftext|>` are counted as the plain text they are, never refused. */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

const WHITESPACE = /\s/;

/**
 * Counts tokens with GPT-2's byte-pair encoding, the tokenizer family of the original KoboldAI-cluster's models.
 *
 * Any text a worker submits is counted in time linear in its length: it is cut into pieces of at most
 * TOKENIZER_CHUNK_CHARS, before a space that follows a non-space where possible. GPT-2's pre-tokenizer
 * always splits there, so ordinary text is counted exactly; only a "word" longer than a piece (a run of
 * one letter, text without spaces) is cut inside and may count a token or two differently.
 */
export function countTokens(text: string): number {
  let count = 0;
  for (const piece of pieces(text)) count += countGpt2Tokens(piece, PLAIN_TEXT);
  return count;
}

function* pieces(text: string): Generator<string> {
  let start = 0;
  while (text.length - start > TOKENIZER_CHUNK_CHARS) {
    let cut = start + TOKENIZER_CHUNK_CHARS;
    while (cut > start && !(text[cut] === ' ' && !WHITESPACE.test(text[cut - 1]))) cut -= 1;
    if (cut === start) {
      cut = start + TOKENIZER_CHUNK_CHARS;
      const previous = text.charCodeAt(cut - 1);
      if (previous >= 0xd800 && previous <= 0xdbff) cut -= 1; // never split a surrogate pair
    }
    yield text.slice(start, cut);
    start = cut;
  }
  if (start < text.length) yield text.slice(start);
}
