#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger } from '../bridge/logger';
import { KaiSimulator } from './kai-simulator';

function integer(min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return value;
  };
}

interface SimFlags {
  port: number;
  host: string;
  model: string;
  maxLength: number;
  maxContextLength: number;
  delayMs: number;
  failEvery: number;
  quiet?: boolean;
}

async function main(): Promise<void> {
  const flags = new Command('kai-sim')
    .description('A KoboldAI stand-in for trying the cluster without a GPU: serves /api/latest/{model,config/max_length,config/max_context_length,generate}.')
    .addOption(new Option('--port <port>', 'port to listen on (0 picks a free one)').argParser(integer(0)).default(5000))
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--model <name>', 'model name to report').default('KoboldAI/simulated'))
    .addOption(new Option('--max-length <tokens>', '"Amount to Generate" limit to report').argParser(integer(1)).default(80))
    .addOption(new Option('--max-context-length <tokens>', 'context limit to report').argParser(integer(1)).default(1024))
    .addOption(new Option('--delay-ms <ms>', 'how long each generation takes').argParser(integer(0)).default(1000))
    .addOption(new Option('--fail-every <n>', 'answer 503 to every nth request (0: never)').argParser(integer(0)).default(0))
    .option('-q, --quiet', 'do not log each generation')
    .parse()
    .opts<SimFlags>();

  const log = createLogger(flags.quiet ? 'quiet' : 'info');
  const simulator = new KaiSimulator({
    model: flags.model,
    maxLength: flags.maxLength,
    maxContextLength: flags.maxContextLength,
    delayMs: flags.delayMs,
    failEvery: flags.failEvery,
    onGeneration: ({ count, words, ms }) => log.info(`Generation ${count}: ${words} words in ${ms} ms`),
  });
  const address = await simulator.listen(flags.port, flags.host);
  const failing = flags.failEvery > 0 ? `, 503 on every call number divisible by ${flags.failEvery}` : '';
  // Always printed, even with -q: tests and scripts read the port from it.
  process.stdout.write(
    `KoboldAI simulator listening on http://${address.address}:${address.port} ` +
      `(model ${flags.model}, max_length ${flags.maxLength}, max_context_length ${flags.maxContextLength}, delay ${flags.delayMs} ms${failing})\n`,
  );
  const stop = (): void => {
    void simulator.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`KoboldAI simulator failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
