import { ValidateBy, ValidationArguments, ValidationOptions } from 'class-validator';

/**
 * Characters a name (username, server name, model name) may not contain, because they are invisible
 * or change how the text around them is shown, so one name could pass for another:
 * - control characters (`\p{Cc}`: C0, DEL and C1) and line or paragraph separators;
 * - format characters (`\p{Cf}`): the bidirectional controls U+200E/F, U+202A–202E, U+2066–2069 and
 *   U+061C, the zero-width U+200B–200D, U+2060–2064 and U+FEFF, the soft hyphen, tags...;
 * - lone surrogates;
 * - letters and marks that draw nothing: U+034F, U+115F, U+1160, U+17B4, U+17B5, U+180B–180F, U+2800,
 *   U+3164, U+FFA0.
 * Emoji keep working: a zero-width joiner between two emoji (👩‍💻) and the tag sequence of a
 * subdivision flag (🏴󠁧󠁢󠁳󠁣󠁴󠁿) are allowed.
 */
// The classes list invisible marks and emoji modifiers one by one, on purpose: no combined character is meant.
// eslint-disable-next-line no-misleading-character-class
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u034F\u115F\u1160\u17B4\u17B5\u180B-\u180F\u2800\u3164\uFFA0]/u;
// eslint-disable-next-line no-misleading-character-class
const FORBIDDEN_AT = new RegExp(FORBIDDEN.source, 'gu');
/** Joiners inside an emoji sequence, and subdivision-flag tag sequences: the allowed uses of format characters. */
// eslint-disable-next-line no-misleading-character-class
const EMOJI_SEQUENCE_PARTS = /(?<=\p{Extended_Pictographic}[\uFE0F\u{1F3FB}-\u{1F3FF}]?)\u200D(?=\p{Extended_Pictographic})|(?<=\u{1F3F4})[\u{E0020}-\u{E007E}]+\u{E007F}/gu;

/** The rule in one sentence, for error messages, Swagger and the README. */
export const NAME_RULE = 'must not contain control, bidirectional-override or invisible characters (zero-width, BOM, ...)';

/** The first character a name may not contain, as `U+XXXX at position N`, or null when the name is fine. */
export function forbiddenNameCharacter(name: string): string | null {
  if (!FORBIDDEN.test(name)) return null;
  // Rare: the name has a format character; it may be part of an emoji sequence.
  const masked = name.replace(EMOJI_SEQUENCE_PARTS, (part) => 'x'.repeat(part.length));
  FORBIDDEN_AT.lastIndex = 0;
  const found = FORBIDDEN_AT.exec(masked);
  if (!found) return null;
  const codePoint = found[0].codePointAt(0) ?? 0;
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')} at position ${found.index}`;
}

/** Whether `name` is free of the characters {@link FORBIDDEN} lists (the hot-path check of pop bodies). */
export function isCleanName(name: string): boolean {
  return !FORBIDDEN.test(name) || forbiddenNameCharacter(name) === null;
}

function describeFault(args: ValidationArguments): string {
  const values: unknown[] = Array.isArray(args.value) ? (args.value as unknown[]) : [args.value];
  for (const [index, value] of values.entries()) {
    if (typeof value !== 'string') continue;
    const fault = forbiddenNameCharacter(value);
    if (fault) return Array.isArray(args.value) ? `${args.property}[${index}] ${NAME_RULE}: ${fault}` : `${args.property} ${NAME_RULE}: ${fault}`;
  }
  return `${args.property} ${NAME_RULE}`;
}

/**
 * A name people see in listings: refuses the characters of {@link FORBIDDEN} with a 400 naming the
 * field, the character and its position. Ordinary Unicode (accents, CJK, emoji, spaces) is fine.
 * Other checks (string, length) stay with their own decorators; values that are not strings pass here.
 */
export function IsName(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isName',
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || isCleanName(value),
        defaultMessage: describeFault,
      },
    },
    options,
  );
}
