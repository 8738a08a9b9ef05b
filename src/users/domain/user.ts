/** A person known by username: what they asked the cluster for and what their servers gave it, in tokens. */
export interface User {
  username: string;
  /** Tokens generated for this user's requests. */
  usage: number;
  /** Tokens this user's servers generated for others. */
  contributions: number;
}

export const ANONYMOUS = 'Anonymous';
