/** The wire forms of the console session and of the server API (docs/server-api.md). */

export interface Who {
  readonly operator: string;
  readonly via: 'password' | 'api_key';
  readonly csrf_token: string;
  readonly issued_at: number;
  readonly ends_at: number;
  readonly expires_at: number;
  readonly idle_timeout_ms: number;
}

export interface ChatToken {
  readonly token: string;
  readonly user: { readonly id: string; readonly username: string; readonly role: string };
  readonly expires_in: number;
}

export interface RoomSummary {
  readonly id: string;
  readonly online: number;
  readonly messages_last_minute: number;
  readonly last_seq: number;
}

export interface RoomList {
  readonly rooms: readonly RoomSummary[];
  readonly total: number;
}

export interface ApiKey {
  readonly api_key: string;
  readonly created_at: number;
  readonly revoked_at: number | null;
}

export interface NewApiKey extends ApiKey {
  readonly api_secret: string;
}

export interface WireUser {
  readonly id: string;
  readonly username: string;
  readonly role: string;
}

export interface WireBan {
  readonly user_id: string;
  readonly by: WireUser;
  readonly created_at: number;
  readonly until: number | null;
  readonly reason: string;
  readonly shadow: boolean;
}

/** A webhook endpoint as the server API lists it: never its secret; with its outbox. */
export interface Webhook {
  readonly id: string;
  readonly url: string;
  /** Event types, or `["*"]`: every type, those added later too. */
  readonly types: readonly string[];
  readonly description: string;
  readonly active: boolean;
  readonly created_at: number;
  /** Deliveries waiting (or being made). */
  readonly pending: number;
  /** Deliveries given up after the last attempt (kept 7 days). */
  readonly dead: number;
  /** What the newest failed attempt got. */
  readonly last_error: string | null;
}

/** The answer to `POST /webhooks`: the one time the secret is shown. */
export interface NewWebhook extends Webhook {
  readonly secret: string;
}

/** What an endpoint answered to `POST /webhooks/{id}/test`. */
export interface WebhookTest {
  readonly event_id: string;
  /** It answered 2xx. */
  readonly ok: boolean;
  /** null: no answer (see `error`). */
  readonly status: number | null;
  readonly error: string | null;
  readonly ms: number;
}
