import { SchedulerRegistry } from '@nestjs/schedule';
import { AppConfig } from '../../config/app-config';
import { SnapshotService, Snapshotting } from './snapshot.service';

describe('SnapshotService.persistenceProblem', () => {
  it('names the store whose last write failed, and clears once it is written', () => {
    const service = new SnapshotService(new AppConfig(), new SchedulerRegistry());
    let fail = true;
    const store: Snapshotting = {
      snapshotName: 'users',
      flushSnapshot: () => {
        if (fail) throw new Error('EACCES: permission denied');
      },
    };
    service.register(store);
    service.register({ snapshotName: 'servers', flushSnapshot: () => undefined });
    expect(service.persistenceProblem()).toBeNull();
    jest.spyOn(service['logger'], 'error').mockImplementation(() => undefined);
    service.flushAll();
    expect(service.persistenceProblem()).toBe('the users snapshot could not be written: EACCES: permission denied');
    fail = false;
    service.flushAll();
    expect(service.persistenceProblem()).toBeNull();
  });
});

describe('SnapshotService: journals and the final write', () => {
  const quiet = (service: SnapshotService): void => {
    jest.spyOn(service['logger'], 'error').mockImplementation(() => undefined);
    jest.spyOn(service['logger'], 'log').mockImplementation(() => undefined);
  };

  it('reports a journal that cannot be written next to snapshot failures, until it is whole again', () => {
    const service = new SnapshotService(new AppConfig(), new SchedulerRegistry());
    quiet(service);
    service.reportProblem('users journal', 'the users.journal journal could not be written: ENOSPC');
    expect(service.persistenceProblem()).toBe('the users.journal journal could not be written: ENOSPC');
    service.register({
      snapshotName: 'servers',
      flushSnapshot: () => {
        throw new Error('EROFS: read-only file system');
      },
    });
    service.flushAll();
    expect(service.persistenceProblem()).toBe('the servers snapshot could not be written: EROFS: read-only file system; the users.journal journal could not be written: ENOSPC');
    service.reportProblem('users journal', null);
    expect(service.persistenceProblem()).toBe('the servers snapshot could not be written: EROFS: read-only file system');
  });

  it('fails the shutdown (exit code 1) when the final snapshot cannot be written, after the journal writes what it holds', () => {
    const service = new SnapshotService(new AppConfig(), new SchedulerRegistry());
    quiet(service);
    const flushJournalSync = jest.fn();
    service.register({
      snapshotName: 'users',
      flushSnapshot: () => {
        throw new Error('EACCES: permission denied');
      },
      flushJournalSync,
    });
    const exitCode = process.exitCode;
    try {
      expect(() => service.onApplicationShutdown()).toThrow(/final snapshot could not be written .*users snapshot could not be written: EACCES/);
      expect(process.exitCode).toBe(1);
      expect(flushJournalSync).toHaveBeenCalledTimes(1);
    } finally {
      process.exitCode = exitCode;
    }
  });

  it('shuts down quietly when everything is written', () => {
    const service = new SnapshotService(new AppConfig(), new SchedulerRegistry());
    service.register({ snapshotName: 'users', flushSnapshot: () => undefined });
    expect(() => service.onApplicationShutdown()).not.toThrow();
  });
});
