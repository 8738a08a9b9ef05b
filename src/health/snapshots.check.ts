import { Injectable } from '@nestjs/common';
import { SnapshotService } from '../common/persistence/snapshot.service';
import { ReadinessCheck } from './readiness-check';

/** What the stores hold is safely on disk: the last write of every snapshot and journal succeeded. */
@Injectable()
export class SnapshotsCheck implements ReadinessCheck {
  readonly name = 'persistence';

  constructor(private readonly snapshots: SnapshotService) {}

  problem(): Promise<string | null> {
    return Promise.resolve(this.snapshots.persistenceProblem());
  }
}
