import { CorruptSnapshotError } from './common/persistence/snapshot-file';
import { describeStartFailure } from './start-failure';

const errno = (message: string, fields: Record<string, unknown>): Error => Object.assign(new Error(message), fields);

describe('describeStartFailure', () => {
  it('names a corrupt snapshot file', () => {
    expect(describeStartFailure(new CorruptSnapshotError('/data/users.json', 'Unexpected end of JSON input'))).toBe(
      'KoboldAI Cluster could not start: /data/users.json is corrupt: Unexpected end of JSON input. Fix or move the file away (it is never wiped silently)',
    );
  });

  it('names the port that is taken, or not allowed', () => {
    const taken = errno('listen EADDRINUSE: address already in use 0.0.0.0:5001', { code: 'EADDRINUSE', syscall: 'listen', address: '0.0.0.0', port: 5001 });
    expect(describeStartFailure(taken)).toMatch(/port 5001 on 0\.0\.0\.0 is already in use \(EADDRINUSE\): stop the other process or set PORT/);
    const denied = errno('listen EACCES', { code: 'EACCES', syscall: 'listen', address: '0.0.0.0', port: 80 });
    expect(describeStartFailure(denied)).toMatch(/not allowed to listen on port 80/);
  });

  it('names the file a system call failed on, and points at DATA_DIR', () => {
    const error = errno("ENOTDIR: not a directory, open '/srv/file/servers.json'", { code: 'ENOTDIR', syscall: 'open', path: '/srv/file/servers.json' });
    expect(describeStartFailure(error)).toBe(
      'KoboldAI Cluster could not start: cannot open /srv/file/servers.json: a part of the path is a file, not a directory (ENOTDIR); check DATA_DIR',
    );
  });

  it('keeps any other message, which names the variable for configuration errors', () => {
    expect(describeStartFailure(new Error('Invalid configuration: PORT="x": PORT must be an integer number'))).toBe(
      'KoboldAI Cluster could not start: Invalid configuration: PORT="x": PORT must be an integer number',
    );
    expect(describeStartFailure('odd')).toBe('KoboldAI Cluster could not start: odd');
  });
});
