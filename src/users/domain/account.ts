/**
 * A registered username (POST /users): the owner of an API key, for the AI Horde v2 API. The key itself is
 * never stored, only its hash (see api-key.ts). Registering changes nothing for the v1 API, where a
 * username is a claim anybody may make.
 */
export interface Account {
  username: string;
  apiKeyHash: string;
  registeredAt: number;
}
