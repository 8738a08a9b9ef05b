/**
 * The Horde-shaped cluster the Redis store benches use (bench/redis-generation.ts, bench/redis-instructions.ts):
 * requests that want 1–20 of 50 models (or any, one in five), max_length 16–512 and a context from 1024 to
 * 16384, and 40 servers of distinct offers (model, max_length, context). Deterministic: the same sequence in
 * every run.
 */
import { ServerOffer } from '../src/generation/domain/prompt-queue';
import { PromptWishes } from '../src/generation/domain/waiting-prompt';

export const MODELS = Array.from({ length: 50 }, (_, i) => `org/model-${i}`);
const CONTEXTS = [1024, 2048, 4096, 8192, 16384];

/** A deterministic pseudo-random sequence in [0, 1) (xorshift32). */
export function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/** One of `items`, by `rand`. */
export function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)];
}

/** A Horde-shaped request's wishes, by `rand`. */
export function hordeWishes(rand: () => number): PromptWishes {
  const models = rand() < 0.2 ? [] : [...new Set(Array.from({ length: 1 + Math.floor(rand() * 20) }, () => pick(rand, MODELS)))];
  return { models, maxLength: 16 + Math.floor(rand() * 497), maxContentLength: rand() < 0.3 ? 1024 : pick(rand, CONTEXTS) };
}

/** `lines` servers of distinct offers (model, max_length, context), or, for 1, one offer every server makes. */
export function hordeOffers(lines: number): ServerOffer[] {
  if (lines === 1) return [{ model: MODELS[0], maxLength: 512, maxContentLength: 16384 }];
  return Array.from({ length: lines }, (_, i) => ({ model: MODELS[i % MODELS.length], maxLength: [80, 128, 256, 512][i % 4], maxContentLength: [2048, 4096, 8192, 16384][(i >> 2) % 4] }));
}
