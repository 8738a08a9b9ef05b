import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppModule } from '../../src/app.module';
import { AuthFailureLimiter } from '../../src/common/rate-limit/auth-failure-limiter';
import { AppConfig, AppConfigOverrides } from '../../src/config/app-config';
import { PasswordHasher } from '../../src/servers/domain/password-hasher';
import { RegistrationBudgetStore } from '../../src/servers/persistence/registration-budget.store';
import { ServerRepository } from '../../src/servers/persistence/server.repository';
import { StaleServersCursor } from '../../src/servers/persistence/stale-servers-cursor';
import { ServersService } from '../../src/servers/servers.service';

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

/**
 * Another instance's ServersService over the same stores as `context` (as two processes on one Redis):
 * its own password memory, and its own `passwords` hasher (to spy on).
 */
export function anotherServersService(context: INestApplicationContext, passwords = new PasswordHasher()): ServersService {
  const get = <T>(token: abstract new (...args: never[]) => T): T => context.get(token as never);
  return new ServersService(get(ServerRepository), passwords, get(AuthFailureLimiter), get(AppConfig), get(RegistrationBudgetStore), get(StaleServersCursor));
}
