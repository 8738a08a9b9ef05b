/** How much the bridge says: quiet = warnings and errors only; verbose adds polling details. */
export type LogLevel = 'quiet' | 'info' | 'verbose';
export const LOG_LEVELS: readonly LogLevel[] = ['quiet', 'info', 'verbose'];

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  verbose(message: string): void;
}

export interface LogSink {
  write(line: string): unknown;
}

/**
 * A small line logger for the CLI programs (they run outside Nest). Info and verbose lines go to
 * `out`, warnings and errors to `err`. Callers never pass prompts, generations or passwords.
 */
export function createLogger(
  level: LogLevel,
  out: LogSink = process.stdout,
  err: LogSink = process.stderr,
  now: () => Date = () => new Date(),
): Logger {
  const line = (sink: LogSink, tag: string, message: string): void => {
    sink.write(`${now().toISOString()} ${tag.padEnd(5)} ${message}\n`);
  };
  return {
    error: (message) => line(err, 'ERROR', message),
    warn: (message) => line(err, 'WARN', message),
    info: (message) => {
      if (level !== 'quiet') line(out, 'INFO', message);
    },
    verbose: (message) => {
      if (level === 'verbose') line(out, 'DEBUG', message);
    },
  };
}
