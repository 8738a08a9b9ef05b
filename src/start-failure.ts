import { CorruptSnapshotError } from './common/persistence/snapshot-file';

interface StartTarget {
  PORT?: number | string;
  HOST?: string;
}

const ERRNO_EXPLANATIONS: Record<string, string> = {
  ENOTDIR: 'a part of the path is a file, not a directory',
  EISDIR: 'it is a directory, not a file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  ENOENT: 'no such file or directory',
};

/**
 * One line saying why the server could not start, naming the cause: the variable, the file or the port,
 * and what to do about it.
 */
export function describeStartFailure(error: unknown, target: StartTarget = {}): string {
  const prefix = 'KoboldAI Cluster could not start:';
  if (error instanceof CorruptSnapshotError) return `${prefix} ${error.message}`;
  if (!(error instanceof Error)) return `${prefix} ${String(error)}`;
  const errno = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if (errno.syscall === 'listen') {
    const where = `port ${errno.port ?? target.PORT} on ${errno.address ?? target.HOST}`;
    if (errno.code === 'EADDRINUSE') return `${prefix} ${where} is already in use (EADDRINUSE): stop the other process or set PORT to a free port`;
    if (errno.code === 'EACCES') return `${prefix} not allowed to listen on ${where} (EACCES): choose a PORT above 1023 or grant the permission`;
    if (errno.code === 'EADDRNOTAVAIL') return `${prefix} HOST ${errno.address ?? target.HOST} is not an address of this machine (EADDRNOTAVAIL)`;
    return `${prefix} cannot listen on ${where}: ${errno.message}`;
  }
  if (errno.path && errno.code) {
    const why = ERRNO_EXPLANATIONS[errno.code] ?? errno.message;
    return `${prefix} cannot ${errno.syscall ?? 'use'} ${errno.path}: ${why} (${errno.code}); check DATA_DIR`;
  }
  return `${prefix} ${error.message}`;
}
