/**
 * Characters that could forge or hide log content when printed raw: C0 controls (CR, LF, ESC...), DEL,
 * C1 controls, and the invisible formatting characters (bidi overrides and isolates, zero-width
 * characters, the line and paragraph separators, the byte-order mark).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const UNSAFE_TEST = new RegExp(UNSAFE.source);

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(char: string): string {
  const named = NAMED[char];
  if (named) return named;
  const code = char.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * The text with every such character written as a visible escape (`\n`, `\x1b`, `\u202e`), so one log
 * call prints exactly one line and a value from a user (a server name, a username, a model) cannot
 * start a forged line, move the cursor or clear the operator's screen.
 */
export function escapeControlCharacters(text: string): string {
  return UNSAFE_TEST.test(text) ? text.replace(UNSAFE, escapeOne) : text;
}

/** JSON.stringify escapes C0 controls already; this escapes the rest (C1, bidi, separators) as \uXXXX, keeping valid JSON. */
export function escapeJsonLine(json: string): string {
  return UNSAFE_TEST.test(json) ? json.replace(UNSAFE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}
