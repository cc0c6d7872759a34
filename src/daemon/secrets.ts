/** Keeps the API tokens and notifier secrets given as `${VAR}` out of the environment that jobs inherit. */
import type { Config } from '../config/load-config.js';
import type { ApiToken } from '../config/settings.js';
import { secretsOf } from '../notify/notifier-config.js';

const hiddenTokenLists = new WeakSet<ApiToken[]>();

/**
 * Jobs inherit the daemon's environment. An API token given as `${VAR}` would be in every job's, and in
 * the log of any job that prints its environment, where a read token could find an admin one: the
 * variables holding a token's value are removed from the daemon's own environment (the config is
 * interpolated from a copy). Returns `tokens`; called again after a reload brings new ones.
 */
export function hideTokensFromJobs(tokens: ApiToken[]): ApiToken[] {
  if (hiddenTokenLists.has(tokens)) return tokens;
  hiddenTokenLists.add(tokens);
  const secrets = new Set(tokens.map((t) => t.token));
  removeFromEnvironment((value) => secrets.has(value));
  return tokens;
}

/**
 * Notifier URLs, secrets and passwords given as `${VAR}` are kept from jobs' environment too, for the same
 * reason. A variable may hold part of one (`url: https://hooks.example.com/?token=${TOKEN}`), so a value of 6
 * characters or more found in a URL's path or query, a secret, a password or a header value goes too (a host
 * name alone is no secret, and variables such as `HOST` stay).
 */
export function hideNotifierSecretsFromJobs(config: Config): void {
  const secrets = Object.values(config.notifiers).flatMap(secretsOf);
  const parts = secrets.filter((s) => !/^https?:\/\//.test(s));
  if (secrets.length) removeFromEnvironment((value) => secrets.includes(value) || (value.length >= 6 && parts.some((p) => p.includes(value))));
}

/** Deletes from the daemon's environment (which jobs inherit) every variable whose value `isSecret`. */
function removeFromEnvironment(isSecret: (value: string) => boolean): void {
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && isSecret(value)) delete process.env[name];
}

