import { AppLogger, logLevelsUpTo } from './app-logger';

/** What the logger wrote to stdout and stderr during `act`. */
function capture(act: () => void): { stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    act();
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return { stdout, stderr };
}

const EVIL = 'n\r\nERROR [Fake] x\u001b[2J\u202e';

describe('AppLogger', () => {
  it('keeps LOG_LEVEL and every more severe level', () => {
    expect(logLevelsUpTo('log')).toEqual(['fatal', 'error', 'warn', 'log']);
    expect(logLevelsUpTo('error')).toEqual(['fatal', 'error']);
    const { stdout } = capture(() => {
      const logger = new AppLogger({ level: 'warn', format: 'text', colors: false });
      logger.log('hidden', 'Ctx');
      logger.warn('shown', 'Ctx');
    });
    expect(stdout).not.toContain('hidden');
    expect(stdout).toContain('WARN [Ctx] shown');
  });

  it('text: escapes control, bidi and zero-width characters in the message, the context and the stack: one line per call', () => {
    const { stdout, stderr } = capture(() => {
      const logger = new AppLogger({ level: 'verbose', format: 'text', colors: false });
      logger.log(`New server "${EVIL}"`, `Ctx${EVIL}`);
      logger.error(`failed ${EVIL}`, `Error: ${EVIL}\n    at somewhere`, 'Ctx');
      logger.log({ message: `GET /${EVIL} 200`, path: `/${EVIL}` }, 'HTTP');
      logger.log({ nested: EVIL }, 'Obj');
    });
    for (const text of [stdout, stderr]) {
      expect(text).not.toContain('\u001b');
      expect(text).not.toContain('\r');
      expect(text).not.toContain('\u202e');
    }
    expect(stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(stderr.trimEnd().split('\n')).toHaveLength(2);
    expect(stdout).toContain('[Ctxn\\r\\nERROR [Fake] x\\x1b[2J\\u202e] New server "n\\r\\nERROR [Fake] x\\x1b[2J\\u202e"');
    expect(stdout).toContain('GET /n\\r\\nERROR');
    expect(stderr).toContain('Error: n\\r\\nERROR [Fake] x\\x1b[2J\\u202e\\n    at somewhere');
  });

  it('text: no colours unless asked for', () => {
    const { stdout } = capture(() => new AppLogger({ level: 'log', format: 'text', colors: false }).log('plain'));
    expect(stdout).not.toContain('\u001b');
  });

  it('json: one object per line with time, level, context, message and the fields of a record', () => {
    const { stdout, stderr } = capture(() => {
      const logger = new AppLogger({ level: 'log', format: 'json' });
      logger.log(`New server "${EVIL}"`, 'Servers');
      logger.warn('careful');
      logger.log({ message: 'POST /generate/pop 401 1.2 ms', method: 'POST', status: 401 }, 'HTTP');
      logger.error('broken', 'Error: broken\n    at x', 'Sweep');
    });
    const lines = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      { time: expect.any(String), level: 'info', context: 'Servers', message: `New server "${EVIL}"` },
      { time: expect.any(String), level: 'warn', message: 'careful' },
      { time: expect.any(String), level: 'info', context: 'HTTP', message: 'POST /generate/pop 401 1.2 ms', method: 'POST', status: 401 },
    ]);
    expect(new Date(lines[0].time as string).toISOString()).toBe(lines[0].time);
    expect(stdout).not.toContain('\u202e');
    expect(JSON.parse(stderr)).toEqual({ time: expect.any(String), level: 'error', context: 'Sweep', message: 'broken', stack: 'Error: broken\n    at x' });
  });
});
