import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppModule } from '../../src/app.module';
import { AppConfigOverrides } from '../../src/config/app-config';

export interface TestContext {
  context: INestApplicationContext;
  close(): Promise<void>;
}

/** The whole application without HTTP, on a fresh DATA_DIR, quiet: for service-level tests (with fake timers). */
export async function startAppContext(overrides: AppConfigOverrides = {}): Promise<TestContext> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kc-context-'));
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot({ DATA_DIR: dataDir, LOG_LEVEL: 'error', ...overrides })] })
    .setLogger({ log: () => undefined, error: () => undefined, warn: () => undefined })
    .compile();
  const context = await moduleRef.init();
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
