import { escapeControlCharacters, escapeJsonLine } from './log-text';

describe('escapeControlCharacters', () => {
  it('leaves ordinary text alone, unicode included', () => {
    expect(escapeControlCharacters('Db0\'s Awesome Instance — 日本語 ✓')).toBe('Db0\'s Awesome Instance — 日本語 ✓');
  });

  it('writes CR, LF, tab, ESC, DEL and C1 controls as visible escapes', () => {
    expect(escapeControlCharacters('a\r\nERROR [Fake] x\u001b[2J\t\u007f\u0085\u009b')).toBe('a\\r\\nERROR [Fake] x\\x1b[2J\\t\\x7f\\x85\\x9b');
  });

  it('escapes bidi overrides, zero-width characters and line separators', () => {
    expect(escapeControlCharacters('\u202eevil\u200b\u2028\u2066\ufeff\u061c')).toBe('\\u202eevil\\u200b\\u2028\\u2066\\ufeff\\u061c');
  });

  it('leaves one line whatever comes in', () => {
    for (let code = 0; code < 0x3000; code++) {
      const escaped = escapeControlCharacters(`x${String.fromCharCode(code)}y`);
      for (const unsafe of ['\n', '\r', '\u001b', '\u2028', '\u2029', '\u0085']) expect(escaped.includes(unsafe)).toBe(false);
    }
  });
});

describe('escapeJsonLine', () => {
  it('keeps valid JSON with the same value, and no raw separator or bidi character', () => {
    const value = { message: 'a\u2028b\u202ec\u0085d\u001be' };
    const line = escapeJsonLine(JSON.stringify(value));
    for (const unsafe of ['\u2028', '\u202e', '\u0085', '\u001b']) expect(line.includes(unsafe)).toBe(false);
    expect(JSON.parse(line)).toEqual(value);
  });
});
