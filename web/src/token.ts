/**
 * Tokens for the demo. The browser never holds an API key or secret (the seed's warning):
 * the pchat server's `/demo/token` endpoint plays the part of the operator's backend.
 */

import type { Role } from './identity';

export class TokenRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'TokenRequestError';
  }
}

interface ErrorBody {
  error?: { message?: unknown; name?: unknown };
}

/** `GET /demo/token?sub=USER_ID&role=ROLE` → the JWT; throws with the server's error text. */
export async function fetchDemoToken(sub: string, role: Role): Promise<string> {
  const query = new URLSearchParams({ sub, role });
  let response: Response;
  try {
    response = await fetch(`demo/token?${query.toString()}`, { cache: 'no-store' });
  } catch (error) {
    throw new TokenRequestError(`the token service is unreachable (${String(error)})`, 0);
  }
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: reported below by status
  }
  if (!response.ok) {
    const message = (body as ErrorBody | null)?.error?.message;
    throw new TokenRequestError(
      typeof message === 'string' ? message : `token request failed (HTTP ${response.status})`,
      response.status,
    );
  }
  const token = (body as { token?: unknown } | null)?.token;
  if (typeof token !== 'string') {
    throw new TokenRequestError('the token service answered without a token', response.status);
  }
  return token;
}
