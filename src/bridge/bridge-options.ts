import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { LOG_LEVELS, LogLevel } from './logger';

/** Everything the bridge needs, after flags, environment, config file and defaults are merged. */
export interface BridgeOptions {
  username: string;
  /** Never printed or logged. */
  password: string;
  /** The server's public name on the cluster. */
  kaiName: string;
  kaiUrl: string;
  clusterUrl: string;
  /** Seconds between polls that found nothing to do. */
  interval: number;
  priorityUsernames: string[];
  logLevel: LogLevel;
  /** Longest wait between retries, in seconds. */
  maxBackoff: number;
}

export const DEFAULTS = {
  kaiUrl: 'http://localhost:5000',
  clusterUrl: 'http://localhost:5001',
  interval: 1,
  priorityUsernames: [] as string[],
  logLevel: 'info' as LogLevel,
  maxBackoff: 30,
} satisfies Partial<BridgeOptions>;

type Key = keyof BridgeOptions;

/** Environment variable and config file key for each setting (the file keys are bridge.py's clientData.py names). */
export const SETTINGS: readonly { key: Key; env: string; file: string }[] = [
  { key: 'username', env: 'BRIDGE_USERNAME', file: 'username' },
  { key: 'password', env: 'BRIDGE_PASSWORD', file: 'password' },
  { key: 'kaiName', env: 'BRIDGE_KAI_NAME', file: 'kai_name' },
  { key: 'kaiUrl', env: 'BRIDGE_KAI_URL', file: 'kai_url' },
  { key: 'clusterUrl', env: 'BRIDGE_CLUSTER_URL', file: 'cluster_url' },
  { key: 'interval', env: 'BRIDGE_INTERVAL', file: 'interval' },
  { key: 'priorityUsernames', env: 'BRIDGE_PRIORITY_USERNAMES', file: 'priority_usernames' },
  { key: 'logLevel', env: 'BRIDGE_LOG_LEVEL', file: 'log_level' },
  { key: 'maxBackoff', env: 'BRIDGE_MAX_BACKOFF', file: 'max_backoff' },
];
export const CONFIG_ENV = 'BRIDGE_CONFIG';

/** bridge.py's underscore spellings, accepted as aliases of the dashed flags. */
const UNDERSCORE_FLAGS = ['--kai_name', '--kai_url', '--cluster_url', '--priority_usernames', '--max_backoff'];

export type ParseOutcome = { kind: 'run'; options: BridgeOptions } | { kind: 'exit'; code: number; output: string };

export class BridgeOptionsError extends Error {}

type Layer = Partial<BridgeOptions>;

function positiveNumber(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return value;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function buildCommand(): Command {
  return new Command('koboldai-cluster-bridge')
    .description('Joins a KoboldAI instance to a KoboldAI Cluster: pops jobs, generates them on KoboldAI, submits the results.')
    .addOption(new Option('-i, --interval <seconds>', `seconds between polls that found nothing to do (default ${DEFAULTS.interval})`).argParser(positiveNumber))
    .addOption(new Option('-u, --username <name>', 'your cluster username, credited with what this server generates'))
    .addOption(new Option('-p, --password <password>', 'the server password: the first pop with a name sets it (never printed)'))
    .addOption(new Option('-n, --kai-name <name>', "the server's public name on the cluster"))
    .addOption(new Option('-k, --kai-url <url>', `your KoboldAI instance (default ${DEFAULTS.kaiUrl})`))
    .addOption(new Option('-c, --cluster-url <url>', `the cluster (default ${DEFAULTS.clusterUrl})`))
    .addOption(new Option('--priority-usernames <username>', 'serve this user\'s requests first (repeatable)').argParser(collect))
    .addOption(new Option('--max-backoff <seconds>', `longest wait between retries (default ${DEFAULTS.maxBackoff})`).argParser(positiveNumber))
    .addOption(new Option('--config <file>', `JSON config file (also ${CONFIG_ENV})`))
    .addOption(new Option('-v, --verbose', 'also log each empty poll and the requests skipped').conflicts('quiet'))
    .addOption(new Option('-q, --quiet', 'only warnings and errors'))
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      `
The underscore spellings of bridge.py work too: --kai_name, --kai_url, --cluster_url, --priority_usernames.
Precedence: flags > environment > config file > defaults.
Environment: ${SETTINGS.map((s) => s.env).join(', ')} (priority usernames comma-separated; log level quiet|info|verbose), ${CONFIG_ENV}.
Config file keys: ${SETTINGS.map((s) => s.file).join(', ')}.`,
    )
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
}

/** Rewrites bridge.py's `--kai_name` style flags (also `--kai_name=x`) to their dashed names. */
export function normalizeArgv(args: readonly string[]): string[] {
  const end = args.indexOf('--');
  return args.map((arg, index) => {
    if (end !== -1 && index >= end) return arg;
    const flag = UNDERSCORE_FLAGS.find((f) => arg === f || arg.startsWith(`${f}=`));
    return flag ? flag.replace(/_/g, '-') + arg.slice(flag.length) : arg;
  });
}

function fromFlags(opts: Record<string, unknown>): Layer {
  const out: Layer = {};
  const str = (name: string): string | undefined => (typeof opts[name] === 'string' ? opts[name] : undefined);
  const num = (name: string): number | undefined => (typeof opts[name] === 'number' ? opts[name] : undefined);
  out.username = str('username');
  out.password = str('password');
  out.kaiName = str('kaiName');
  out.kaiUrl = str('kaiUrl');
  out.clusterUrl = str('clusterUrl');
  out.interval = num('interval');
  out.maxBackoff = num('maxBackoff');
  if (Array.isArray(opts.priorityUsernames)) out.priorityUsernames = opts.priorityUsernames as string[];
  if (opts.verbose === true) out.logLevel = 'verbose';
  if (opts.quiet === true) out.logLevel = 'quiet';
  return out;
}

function parseLogLevel(value: unknown, where: string): LogLevel {
  if (typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new BridgeOptionsError(`${where}: expected one of ${LOG_LEVELS.join(', ')}`);
}

function parseSeconds(value: unknown, where: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) throw new BridgeOptionsError(`${where}: expected a positive number of seconds`);
  return n;
}

export function fromEnv(env: Record<string, string | undefined>): Layer {
  const out: Layer = {};
  for (const { key, env: name } of SETTINGS) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    switch (key) {
      case 'interval':
      case 'maxBackoff':
        out[key] = parseSeconds(raw, name);
        break;
      case 'priorityUsernames':
        out[key] = raw.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
        break;
      case 'logLevel':
        out[key] = parseLogLevel(raw, name);
        break;
      default:
        out[key] = raw;
    }
  }
  return out;
}

export function fromFile(path: string, readFile: (path: string) => string): Layer {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    throw new BridgeOptionsError(`config file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new BridgeOptionsError(`config file ${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new BridgeOptionsError(`config file ${path}: expected a JSON object`);
  const record = data as Record<string, unknown>;
  const out: Layer = {};
  for (const name of Object.keys(record)) {
    const setting = SETTINGS.find((s) => s.file === name);
    if (!setting) throw new BridgeOptionsError(`config file ${path}: unknown key "${name}" (known: ${SETTINGS.map((s) => s.file).join(', ')})`);
    const value = record[name];
    const where = `config file ${path}: ${name}`;
    if (value === null) continue;
    switch (setting.key) {
      case 'interval':
      case 'maxBackoff':
        out[setting.key] = parseSeconds(value, where);
        break;
      case 'priorityUsernames':
        if (!Array.isArray(value) || !value.every((u) => typeof u === 'string')) throw new BridgeOptionsError(`${where}: expected an array of usernames`);
        out.priorityUsernames = value;
        break;
      case 'logLevel':
        out.logLevel = parseLogLevel(value, where);
        break;
      default:
        if (typeof value !== 'string') throw new BridgeOptionsError(`${where}: expected a string`);
        out[setting.key] = value;
    }
  }
  return out;
}

function checkUrl(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new BridgeOptionsError(`${what} "${value}" is not a URL (expected e.g. http://localhost:5000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BridgeOptionsError(`${what} "${value}" must start with http:// or https://`);
  return value.replace(/\/+$/, '');
}

/** Merges the layers, highest first, and checks the result. */
export function mergeOptions(...layers: Layer[]): BridgeOptions {
  const pick = <K extends Key>(key: K): BridgeOptions[K] | undefined => {
    for (const layer of layers) {
      const value = layer[key];
      if (value !== undefined) return value;
    }
    return undefined;
  };
  const missing: string[] = [];
  const required = (key: 'username' | 'password' | 'kaiName', flag: string): string => {
    const value = pick(key)?.trim() ?? '';
    if (value === '') missing.push(`${flag} (${SETTINGS.find((s) => s.key === key)?.env})`);
    return value;
  };
  const username = required('username', '--username');
  const password = required('password', '--password');
  const kaiName = required('kaiName', '--kai-name');
  if (missing.length > 0) throw new BridgeOptionsError(`missing ${missing.join(', ')}: give them as flags, environment variables or in the --config file`);
  return {
    username,
    password,
    kaiName,
    kaiUrl: checkUrl(pick('kaiUrl') ?? DEFAULTS.kaiUrl, 'KoboldAI URL'),
    clusterUrl: checkUrl(pick('clusterUrl') ?? DEFAULTS.clusterUrl, 'cluster URL'),
    interval: pick('interval') ?? DEFAULTS.interval,
    priorityUsernames: pick('priorityUsernames') ?? DEFAULTS.priorityUsernames,
    logLevel: pick('logLevel') ?? DEFAULTS.logLevel,
    maxBackoff: pick('maxBackoff') ?? DEFAULTS.maxBackoff,
  };
}

/**
 * Parses the bridge's command line (without `node` and the script), then merges it with the
 * environment and the config file: flags > environment > file > defaults.
 */
export function parseBridgeOptions(
  args: readonly string[],
  env: Record<string, string | undefined> = process.env,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): ParseOutcome {
  let output = '';
  const command = buildCommand().configureOutput({
    writeOut: (text) => (output += text),
    writeErr: (text) => (output += text),
  });
  try {
    command.parse(normalizeArgv(args), { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return { kind: 'exit', code: error.exitCode === 0 ? 0 : 2, output };
    throw error;
  }
  try {
    const opts = command.opts<Record<string, unknown>>();
    const configPath = typeof opts.config === 'string' ? opts.config : env[CONFIG_ENV] || undefined;
    const file = configPath ? fromFile(configPath, readFile) : {};
    return { kind: 'run', options: mergeOptions(fromFlags(opts), fromEnv(env), file) };
  } catch (error) {
    if (error instanceof BridgeOptionsError) return { kind: 'exit', code: 2, output: `error: ${error.message}\n` };
    throw error;
  }
}
