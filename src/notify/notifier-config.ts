/**
 * The config's top-level `notifiers:`: named delivery targets (a webhook, a Slack-style chat webhook, an SMTP
 * server) that jobs name in their `notify:` lists, so a URL or a password is written once.
 */
import type { SchemaObject } from 'ajv';
import { parseDuration } from '../jobs/duration.js';
import { WatchbellError, type FieldError } from '../jobs/errors.js';
import type { Job } from '../jobs/job.js';
import { DURATION_SCHEMA } from '../jobs/job-schema.js';
import { NOTIFIER_NAME_PATTERN } from '../jobs/notify-rule.js';
import { label } from '../jobs/schema-validator.js';

interface NotifierBase {
  name: string;
  /** Seconds one attempt may take. */
  timeout: number;
  /** Further attempts after a failed one that may succeed later (5xx, network errors, timeouts). */
  retries: number;
}

/** An HTTP endpoint that receives a POST per notification. */
export interface WebhookNotifier extends NotifierBase {
  type: 'webhook';
  /** `json`: {event, job, execution}; `slack`: a Slack incoming-webhook message. */
  format: 'json' | 'slack';
  url: string;
  /** Key of the `X-Watchbell-Signature` HMAC; null sends no signature. */
  secret: string | null;
  /** Extra request headers (e.g. Authorization); ours win over them. */
  headers: Record<string, string>;
}

/** An SMTP server, through nodemailer. */
export interface EmailNotifier extends NotifierBase {
  type: 'email';
  host: string;
  port: number;
  /** `starttls`: upgrade the connection and refuse to go on without TLS; `implicit`: TLS from the first byte (port 465); `none`: plain text. */
  tls: 'starttls' | 'implicit' | 'none';
  user: string | null;
  password: string | null;
  from: string;
  to: string[];
}

export type NotifierConfig = WebhookNotifier | EmailNotifier;

/** Values a key takes when a notifier does not set it. */
export const NOTIFIER_DEFAULTS = Object.freeze({
  /** Per attempt. */
  timeout: 10,
  /** So four attempts at most: 1 s, 2 s and 4 s apart. */
  retries: 3,
  format: 'json' as const,
  tls: 'starttls' as const,
  /** The submission port; 465 when `tls: implicit`. */
  port: 587,
});

const WEBHOOK_KEYS = ['url', 'format', 'secret', 'headers'] as const;
const EMAIL_KEYS = ['host', 'port', 'tls', 'user', 'password', 'from', 'to'] as const;

/** One notifier: every key of every type; which keys a type takes is checked in parseNotifiers, with clearer words. */
const NOTIFIER_SCHEMA: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { enum: ['webhook', 'email'] },
    url: { type: 'string', minLength: 1, maxLength: 4096 },
    format: { enum: ['json', 'slack'] },
    secret: { type: 'string', minLength: 1, maxLength: 4096 },
    headers: {
      type: 'object',
      maxProperties: 50,
      propertyNames: { pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$", maxLength: 128 },
      additionalProperties: { type: 'string', maxLength: 8192 },
    },
    host: { type: 'string', minLength: 1, maxLength: 255 },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    tls: { enum: ['starttls', 'implicit', 'none'] },
    user: { type: 'string', minLength: 1, maxLength: 1024 },
    password: { type: 'string', minLength: 1, maxLength: 4096 },
    from: { type: 'string', minLength: 3, maxLength: 1024 },
    to: {
      anyOf: [
        { type: 'string', minLength: 3, maxLength: 1024 },
        { type: 'array', minItems: 1, maxItems: 50, items: { type: 'string', minLength: 3, maxLength: 1024 } },
      ],
    },
    timeout: { ...DURATION_SCHEMA },
    retries: { type: 'integer', minimum: 0, maximum: 10 },
  },
};

/** `notifiers:` in the config file: name -> notifier. */
export const NOTIFIERS_SCHEMA: SchemaObject = {
  type: ['object', 'null'],
  maxProperties: 100,
  propertyNames: { pattern: NOTIFIER_NAME_PATTERN, maxLength: 63 },
  additionalProperties: NOTIFIER_SCHEMA,
};

/** What each notifier key accepts, for messages. */
const NOTIFIER_EXPECTATIONS: Readonly<Record<string, string>> = {
  type: 'one of "webhook", "email"',
  url: 'an http:// or https:// URL',
  format: 'one of "json", "slack"',
  secret: 'a non-empty string (write it as ${ENV_VAR})',
  headers: 'a map of header names to string values',
  host: 'a host name or IP address of an SMTP server',
  port: 'a port number from 1 to 65535',
  tls: 'one of "starttls", "implicit", "none"',
  from: 'an email address such as watchbell@example.com',
  to: 'an email address, or a list of 1..50 of them',
  timeout: 'a duration from 1s to 5m: integer seconds or a string such as "10s"',
  retries: 'an integer from 0 to 10',
};

/** What a `notifiers:` path accepts (`/notifiers/NAME/KEY`), for messages. */
export function describeNotifierPath(path: string, what: 'key' | 'value'): string | undefined {
  const [, , name, key] = path.split('/');
  if (name !== undefined && key === undefined && what === 'key') {
    return 'a notifier name: 1..63 lowercase letters, digits, "_", "." or "-", starting with a letter or digit';
  }
  return key === undefined ? undefined : NOTIFIER_EXPECTATIONS[key];
}

/**
 * The notifiers of a config's `notifiers:` (already checked against NOTIFIERS_SCHEMA, whose problems are in
 * `schemaErrors`), with defaults filled in. Each problem found here is added to `problems`. `names` lists every
 * declared name, broken ones too, so a job naming a broken notifier is not told it is undeclared as well.
 */
export function parseNotifiers(raw: unknown, schemaErrors: readonly FieldError[], problems: FieldError[]): { notifiers: Record<string, NotifierConfig>; names: string[] } {
  const notifiers: Record<string, NotifierConfig> = {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { notifiers, names: [] };
  for (const [name, body] of Object.entries(raw as Record<string, Raw>)) {
    const at = `/notifiers/${name}`;
    if (schemaErrors.some((e) => e.path === at || e.path.startsWith(`${at}/`))) continue; // already said
    const found: FieldError[] = [];
    const bad: Bad = (key, message) => found.push({ path: `${at}/${key}`, message: `${label(`${at}/${key}`)}: ${message}` });
    const base = commonKeys(name, body, bad);
    const notifier = body.type === 'webhook' ? webhookNotifier(base, body, bad) : emailNotifier(base, body, bad);
    if (found.length) problems.push(...found);
    else notifiers[name] = Object.freeze(notifier);
  }
  return { notifiers, names: Object.keys(raw) };
}

type Raw = Record<string, unknown>;
type Bad = (key: string, message: string) => void;

/** What every notifier has; and the keys its type needs, or does not take. */
function commonKeys(name: string, body: Raw, bad: Bad): NotifierBase {
  const webhook = body.type === 'webhook';
  const kind = webhook ? 'a webhook notifier' : 'an email notifier';
  for (const key of webhook ? EMAIL_KEYS : WEBHOOK_KEYS) if (key in body) bad(key, `not allowed in ${kind}; it belongs to type ${webhook ? 'email' : 'webhook'}`);
  for (const key of webhook ? ['url'] : ['host', 'from', 'to']) if (!(key in body)) bad(key, `is required for ${kind}`);
  const timeout = parseDuration(body.timeout ?? NOTIFIER_DEFAULTS.timeout)!;
  if (timeout < 1 || timeout > 300) bad('timeout', `${timeout}s is out of range; expected ${NOTIFIER_EXPECTATIONS.timeout}`);
  return { name, timeout, retries: (body.retries as number | undefined) ?? NOTIFIER_DEFAULTS.retries };
}

function webhookNotifier(base: NotifierBase, body: Raw, bad: Bad): WebhookNotifier {
  // The URL is a secret (a Slack webhook URL is its own credential): the message never shows it.
  if (typeof body.url === 'string' && !isHttpUrl(body.url)) bad('url', `(a secret value, not shown) is invalid; expected ${NOTIFIER_EXPECTATIONS.url}`);
  return {
    ...base,
    type: 'webhook',
    url: body.url as string,
    format: (body.format as WebhookNotifier['format'] | undefined) ?? NOTIFIER_DEFAULTS.format,
    secret: (body.secret as string | undefined) ?? null,
    headers: { ...(body.headers as Record<string, string> | undefined) },
  };
}

/** `watchbell@example.com`, or `Name <watchbell@example.com>`. */
const ADDRESS = /^[^@\s<>]+@[^@\s<>]+$|<[^@\s<>]+@[^@\s<>]+>\s*$/;

function emailNotifier(base: NotifierBase, body: Raw, bad: Bad): EmailNotifier {
  const list = Array.isArray(body.to);
  const to = list ? (body.to as string[]) : typeof body.to === 'string' ? [body.to] : [];
  const addresses: Array<[string, unknown]> = [['from', body.from], ...to.map((a, i): [string, string] => [list ? `to/${i}` : 'to', a])];
  for (const [key, address] of addresses) {
    if (typeof address === 'string' && !ADDRESS.test(address)) bad(key, `${JSON.stringify(address)} is not an email address; expected ${NOTIFIER_EXPECTATIONS.from}`);
  }
  if (body.password !== undefined && body.user === undefined) bad('password', 'is set without user; add user, the login that goes with it');
  const tls = (body.tls as EmailNotifier['tls'] | undefined) ?? NOTIFIER_DEFAULTS.tls;
  return {
    ...base,
    type: 'email',
    host: body.host as string,
    port: (body.port as number | undefined) ?? (tls === 'implicit' ? 465 : NOTIFIER_DEFAULTS.port),
    tls,
    user: (body.user as string | undefined) ?? null,
    password: (body.password as string | undefined) ?? null,
    from: body.from as string,
    to,
  };
}

/**
 * Refuses a reload that removes a notifier an API job still names (409 NOTIFIER_IN_USE): the job's alerts would
 * stop without a word. Config jobs need no check: the new file is validated against its own notifiers.
 */
export function checkNotifiersInUse(
  apiJobs: () => ReadonlyArray<Pick<Job, 'id' | 'notify'>>,
  running: Record<string, NotifierConfig>,
  next: Record<string, NotifierConfig>,
): void {
  // Most reloads remove no notifier: then no job needs to be looked at.
  if (Object.keys(running).every((name) => next[name])) return;
  const details = apiJobs().flatMap((job) =>
    (job.notify ?? []).flatMap((rule, i) => {
      if (next[rule.notifier]) return [];
      const message = `notifiers: the config no longer declares notifier ${JSON.stringify(rule.notifier)}, but API job ${job.id} names it (notify.${i}.notifier); ` +
        `keep the notifier until no job names it, or change the job first (PUT /api/v1/jobs/${job.id})`;
      return [{ path: `/notifiers/${rule.notifier}`, message }];
    }),
  );
  if (details.length) throw new WatchbellError('NOTIFIER_IN_USE', details.map((d) => d.message).join('\n'), { details });
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** The values of a notifier that must never be shown: its URL (and the URL's parts), secret, password, header values. */
export function secretsOf(n: NotifierConfig): string[] {
  const out: string[] = [];
  if (n.type === 'webhook') {
    out.push(n.url);
    const url = new URL(n.url);
    if (url.pathname.length > 1) out.push(url.pathname);
    if (url.search.length > 1) out.push(url.search.slice(1));
    if (url.password) out.push(url.password);
    if (n.secret) out.push(n.secret);
    for (const value of Object.values(n.headers)) {
      out.push(value);
      // `Bearer KEY`, `Basic ...`: a receiver may echo the credential alone.
      const credential = /^[A-Za-z][\w.-]*\s+(\S.*)$/.exec(value)?.[1];
      if (credential) out.push(credential);
    }
  } else if (n.password) out.push(n.password);
  // Longest first, so a URL is masked whole before its path is; very short values would mask ordinary words.
  return [...new Set(out)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
}

/** Where a notifier delivers, safe to show in /health and logs: a URL's origin only, an SMTP server's host and port. */
export function describeTarget(n: NotifierConfig): string {
  return n.type === 'webhook' ? new URL(n.url).origin : `smtp://${n.host}:${n.port}`;
}
