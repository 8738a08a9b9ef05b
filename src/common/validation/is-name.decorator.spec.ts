import { IsArray, IsString, validateSync } from 'class-validator';
import { forbiddenNameCharacter, isCleanName, IsName } from './is-name.decorator';

describe('names: forbiddenNameCharacter / isCleanName', () => {
  it.each([
    ['plain ASCII with spaces', "Db0's Awesome Instance"],
    ['accents', 'Zoë Ångström-Núñez'],
    ['CJK', '東京のサーバー'],
    ['Arabic and Hebrew, right to left by nature', 'خادم שרת'],
    ['emoji', 'GPU go brrr 🚀🔥'],
    ['an emoji ZWJ sequence', 'dev 👩‍💻 and family 👨‍👩‍👧'],
    ['a skin tone and a ZWJ', '🧑🏽‍🚀 crew'],
    ['a subdivision flag (tag sequence)', 'Scotland 🏴󠁧󠁢󠁳󠁣󠁴󠁿'],
    ['a variation selector', '❤️ server'],
    ['a model path', 'KoboldAI/fairseq-dense-13B-Nerys-v2'],
  ])('accepts %s', (_label, name) => {
    expect(forbiddenNameCharacter(name)).toBeNull();
    expect(isCleanName(name)).toBe(true);
  });

  it.each([
    ['a right-to-left override', 'db0\u202Egnp.exe', 'U+202E at position 3'],
    ['a left-to-right mark', '\u200Edb0', 'U+200E at position 0'],
    ['an Arabic letter mark', 'db\u061C0', 'U+061C at position 2'],
    ['a first-strong isolate', 'db0\u2068', 'U+2068 at position 3'],
    ['a zero-width space', 'db\u200B0', 'U+200B at position 2'],
    ['a zero-width joiner between letters', 'd\u200Db0', 'U+200D at position 1'],
    ['a zero-width non-joiner', 'db0\u200C', 'U+200C at position 3'],
    ['a word joiner', 'db\u20600', 'U+2060 at position 2'],
    ['a byte-order mark', '\uFEFFdb0', 'U+FEFF at position 0'],
    ['a soft hyphen', 'db\u00AD0', 'U+00AD at position 2'],
    ['NUL', 'db0\u0000', 'U+0000 at position 3'],
    ['a newline', 'db0\nERROR [Fake] forged', 'U+000A at position 3'],
    ['an ANSI escape', '\u001B[2Jdb0', 'U+001B at position 0'],
    ['DEL', 'db0\u007F', 'U+007F at position 3'],
    ['a C1 control', 'db0\u0085', 'U+0085 at position 3'],
    ['a line separator', 'db0\u2028x', 'U+2028 at position 3'],
    ['a Hangul filler', '\u3164', 'U+3164 at position 0'],
    ['a braille blank', 'db0\u2800', 'U+2800 at position 3'],
    ['a lone surrogate', 'db0\uD800', 'U+D800 at position 3'],
    ['a tag character outside a flag', 'db0\u{E0041}', 'U+E0041 at position 3'],
    ['a zero-width joiner after an emoji, before a letter', '🚀\u200Dx', 'U+200D at position 2'],
  ])('refuses %s', (_label, name, fault) => {
    expect(forbiddenNameCharacter(name)).toBe(fault);
    expect(isCleanName(name)).toBe(false);
  });
});

class Named {
  @IsString()
  @IsName()
  name!: unknown;

  @IsArray()
  @IsName({ each: true })
  aliases: unknown = [];
}

function messages(values: Partial<Named>): string[] {
  return validateSync(Object.assign(new Named(), values)).flatMap((e) => Object.values(e.constraints ?? {}));
}

describe('@IsName', () => {
  it('names the field, the character and its position', () => {
    expect(messages({ name: 'db0\u202E' })).toEqual([
      'name must not contain control, bidirectional-override or invisible characters (zero-width, BOM, ...): U+202E at position 3',
    ]);
  });

  it('names the element of a list', () => {
    expect(messages({ name: 'ok', aliases: ['fine', 'bad\u200B'] })).toEqual([
      'aliases[1] must not contain control, bidirectional-override or invisible characters (zero-width, BOM, ...): U+200B at position 3',
    ]);
  });

  it('leaves values that are not strings to the other decorators', () => {
    expect(messages({ name: 42 })).toEqual(['name must be a string']);
  });
});
