import { Injectable } from '@nestjs/common';
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AppConfig } from '../config/app-config';
import { ReadinessCheck } from './readiness-check';

/** DATA_DIR is a directory the server may write to: two system calls per probe, nothing written. */
@Injectable()
export class DataDirCheck implements ReadinessCheck {
  readonly name = 'data_dir';

  constructor(private readonly config: AppConfig) {}

  async problem(): Promise<string | null> {
    const dir = resolve(this.config.DATA_DIR);
    try {
      const info = await stat(dir).catch(async (error: NodeJS.ErrnoException) => {
        // Not made yet (the first snapshot makes it): make it now, which also proves it can be written.
        if (error.code !== 'ENOENT') throw error;
        await mkdir(dir, { recursive: true });
        return stat(dir);
      });
      if (!info.isDirectory()) return `DATA_DIR ${dir} is not a directory`;
      await access(dir, constants.W_OK | constants.X_OK);
      return null;
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      return `DATA_DIR ${dir} cannot be written (${code ?? message})`;
    }
  }
}
