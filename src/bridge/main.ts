#!/usr/bin/env node
import { parseBridgeOptions } from './bridge-options';
import { BridgeWorker } from './bridge-worker';
import { ClusterClient } from './cluster-client';
import { KoboldClient } from './kobold-client';
import { createLogger } from './logger';

/** Exit code for a second signal, as shells report a process killed by it. */
const SIGNAL_EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

async function main(): Promise<number> {
  const parsed = parseBridgeOptions(process.argv.slice(2));
  if (parsed.kind === 'exit') {
    (parsed.code === 0 ? process.stdout : process.stderr).write(parsed.output);
    return parsed.code;
  }
  const options = parsed.options;
  const log = createLogger(options.logLevel);
  const worker = new BridgeWorker(options, log, new KoboldClient(options.kaiUrl), new ClusterClient(options.clusterUrl));

  const onSignal = (signal: NodeJS.Signals): void => {
    if (worker.stopRequested) {
      const lost = worker.jobInHand ? `; job ${worker.jobInHand} is abandoned` : '';
      log.warn(`${signal} again: quitting at once${lost}`);
      process.exit(SIGNAL_EXIT_CODES[signal] ?? 1);
    }
    const job = worker.jobInHand;
    log.info(job ? `${signal}: stopping after job ${job} is submitted (send it again to quit at once)` : `${signal}: stopping`);
    worker.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  log.info(`Starting the bridge for "${options.kaiName}": KoboldAI at ${options.kaiUrl}, cluster at ${options.clusterUrl}`);
  return worker.run();
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`Bridge failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
