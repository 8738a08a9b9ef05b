/**
 * One condition the server needs to do its job safely. /health/ready lists every check registered in
 * HealthModule (READINESS_CHECKS): add a class implementing this and add it there (a shared store's
 * connection, say).
 */
export interface ReadinessCheck {
  /** The key of the check in /health/ready's answer. */
  readonly name: string;
  /** Why the server is not ready, or null when this check passes. Must be cheap: probes call it every few seconds. */
  problem(): Promise<string | null>;
}

export const READINESS_CHECKS = Symbol('READINESS_CHECKS');
