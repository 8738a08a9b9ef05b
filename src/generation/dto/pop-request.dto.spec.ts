import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { PopRequestDto } from './pop-request.dto';

const valid = { username: 'db0', password: 'correct horse', name: "Db0's Instance", model: 'KoboldAI/OPT-13B' };

const cases: Record<string, unknown>[] = [
  valid,
  { ...valid, max_length: 80, max_content_length: 2048 },
  { ...valid, max_length: null, max_content_length: undefined, priority_usernames: null },
  { ...valid, priority_usernames: ['db0', 'henk'] },
  { ...valid, extra: 'ignored' },
  { ...valid, username: '' },
  { ...valid, username: 'x'.repeat(101) },
  { ...valid, password: 'x'.repeat(257) },
  { ...valid, password: 42 },
  { ...valid, name: undefined },
  { ...valid, model: 'x'.repeat(201) },
  { ...valid, model: ['a'] },
  { ...valid, max_length: 0 },
  { ...valid, max_length: 1.5 },
  { ...valid, max_length: '80' },
  { ...valid, max_content_length: 1_000_001 },
  { ...valid, max_content_length: Number.NaN },
  { ...valid, priority_usernames: 'db0' },
  { ...valid, priority_usernames: [1] },
  { ...valid, priority_usernames: ['x'.repeat(101)] },
  { ...valid, priority_usernames: Array.from({ length: 101 }, () => 'a') },
  { ...valid, name: 'GPU 🚀 東京 Zoë 👩‍💻' },
  { ...valid, name: 'db0\u202Egnp' },
  { ...valid, name: '\u200Bdb0' },
  { ...valid, username: 'db0\u0000' },
  { ...valid, username: '\uFEFFdb0' },
  { ...valid, model: 'KoboldAI/OPT\u200E' },
  { ...valid, model: 'model\n' },
  { ...valid, priority_usernames: ['db0', 'henk\u2066'] },
  { ...valid, priority_usernames: ['\u0085'] },
  { ...valid, password: 'pass\u202Eword' },
  { username: 'db0' },
  {},
];

function classValidatorAccepts(body: object): boolean {
  return validateSync(plainToInstance(PopRequestDto, body), { forbidUnknownValues: true }).length === 0;
}

describe('PopRequestDto.isValidBody (the hand-written twin of its decorators)', () => {
  it.each(cases.map((body) => [JSON.stringify(body), body]))('agrees with class-validator on %s', (_label, body) => {
    expect(PopRequestDto.isValidBody(body)).toBe(classValidatorAccepts(body));
  });
});
