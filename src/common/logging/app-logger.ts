import { ConsoleLogger, LogLevel } from '@nestjs/common';
import { inspect } from 'node:util';
import { AppLogLevel, LOG_LEVELS } from '../../config/app-config';
import { escapeControlCharacters, escapeJsonLine } from './log-text';

export interface AppLoggerOptions {
  level: AppLogLevel;
  format: 'text' | 'json';
  /** Colours in text format; by default only on a terminal, and never with NO_COLOR set. */
  colors?: boolean;
}

/**
 * A log message with fields: text format prints `message`, JSON format adds the fields to the line
 * (the access log uses it for method, path, status and duration).
 */
export interface LogRecord {
  message: string;
  [field: string]: string | number | boolean | null | undefined;
}

function isLogRecord(value: unknown): value is LogRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as LogRecord).message === 'string';
}

/** The levels LOG_LEVEL keeps: itself and every more severe one. */
export function logLevelsUpTo(level: AppLogLevel): LogLevel[] {
  return LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1);
}

const JSON_LEVEL_NAMES: Partial<Record<LogLevel, string>> = { log: 'info' };

/**
 * The server's logger: Nest's ConsoleLogger, with
 * - every message, context and stack escaped in text format (control characters, ANSI escapes, bidi
 *   and zero-width characters become visible escapes), so a value a user chose (a server name, a
 *   username, a model) can never forge a log line or drive the operator's terminal, wherever it is logged;
 * - LOG_FORMAT=json: one JSON object per line, `{time, level, context, message, ...fields}`.
 */
export class AppLogger extends ConsoleLogger {
  private readonly jsonFormat: boolean;

  constructor(options: AppLoggerOptions) {
    const json = options.format === 'json';
    super({
      logLevels: logLevelsUpTo(options.level),
      json,
      colors: json ? false : (options.colors ?? (process.stdout.isTTY === true && !process.env.NO_COLOR)),
    });
    this.jsonFormat = json;
  }

  protected override formatContext(context: string): string {
    return super.formatContext(escapeControlCharacters(context));
  }

  protected override stringifyMessage(message: unknown, logLevel: LogLevel): string {
    if (typeof message === 'string') return super.stringifyMessage(escapeControlCharacters(message), logLevel) as string;
    if (isLogRecord(message)) return super.stringifyMessage(escapeControlCharacters(message.message), logLevel) as string;
    if (typeof message === 'function') return super.stringifyMessage(message, logLevel) as string;
    return escapeControlCharacters(inspect(message, { ...this.inspectOptions, colors: false }));
  }

  protected override printStackTrace(stack: string): void {
    if (this.jsonFormat || !stack) return;
    process.stderr.write(`${escapeControlCharacters(stack)}\n`);
  }

  protected override printAsJson(message: unknown, options: { context: string; logLevel: LogLevel; writeStreamType?: 'stdout' | 'stderr'; errorStack?: unknown }): void {
    const line: Record<string, unknown> = {
      time: new Date().toISOString(),
      level: JSON_LEVEL_NAMES[options.logLevel] ?? options.logLevel,
      context: options.context || undefined,
    };
    if (isLogRecord(message)) Object.assign(line, message);
    else line.message = typeof message === 'string' ? message : inspect(message, { ...this.inspectOptions, colors: false });
    if (options.errorStack) line.stack = typeof options.errorStack === 'string' ? options.errorStack : inspect(options.errorStack);
    process[options.writeStreamType ?? 'stdout'].write(`${escapeJsonLine(this.stringifyJsonLogObject(line))}\n`);
  }
}
