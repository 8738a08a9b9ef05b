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
