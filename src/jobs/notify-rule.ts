/**
 * A job's `notify:` list: which notifier (declared once under the config's top-level `notifiers:`) hears
 * about which of its executions. The notifiers themselves (URLs, passwords) live in src/notify/.
 */
import type { SchemaObject } from 'ajv';
import type { FieldError } from './errors.js';
import { JOB_ID_PATTERN } from './ids.js';
import { label, showValue } from './schema-validator.js';

/** What a notification is about. `finish` is success or failure; `recovered` a success after a failure. */
export type NotifyEvent = 'failure' | 'success' | 'finish' | 'recovered' | 'skipped';

export const NOTIFY_EVENTS: readonly NotifyEvent[] = ['failure', 'success', 'finish', 'recovered', 'skipped'];

/** One entry of `notify:`: a notifier's name and the events it is sent. */
export interface NotifyRule {
  notifier: string;
  events: NotifyEvent[];
}

/** Events of an entry that names none: what an operator nearly always wants, and no noise on success. */
export const DEFAULT_NOTIFY_EVENTS: readonly NotifyEvent[] = ['failure', 'recovered'];

/** Notifier names follow the rules of job ids: safe as metric labels and in log lines. */
export const NOTIFIER_NAME_PATTERN = JOB_ID_PATTERN;

/** The schema of `notify:` in a job, in `defaults:` and in request bodies. */
export const NOTIFY_SCHEMA: SchemaObject = {
  type: 'array',
  maxItems: 20,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['notifier'],
    properties: {
      notifier: { type: 'string', minLength: 1, maxLength: 63 },
      events: { type: 'array', minItems: 1, maxItems: NOTIFY_EVENTS.length, uniqueItems: true, items: { enum: [...NOTIFY_EVENTS] } },
    },
  },
};

/** What `notify:` accepts, for messages. */
export const NOTIFY_EXPECTATION =
  `a list of at most 20 entries {notifier: NAME, events: [...]}, events among ${NOTIFY_EVENTS.join(', ')} (default: ${DEFAULT_NOTIFY_EVENTS.join(', ')})`;

/** Rules from input that passed NOTIFY_SCHEMA, with default events filled in. */
export function normalizeNotify(raw: unknown): NotifyRule[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((r: { notifier: string; events?: NotifyEvent[] }) => ({ notifier: r.notifier, events: [...(r.events ?? DEFAULT_NOTIFY_EVENTS)] }));
}

/**
 * Each entry naming a notifier that is not in `known`, as a FieldError at `PREFIX/notify/I/notifier`. `known` is
 * what the running config (or the file being read) declares, so the API refuses what a delivery could not do.
 */
export function unknownNotifiers(rules: readonly NotifyRule[], known: readonly string[], prefix = ''): FieldError[] {
  const names = new Set(known);
  const expected = known.length
    ? `expected one of ${[...known].sort().map((n) => JSON.stringify(n)).join(', ')} (declared under notifiers: in the config file)`
    : 'expected the name of a notifier declared under notifiers: in the config file, and none is declared';
  return rules.flatMap((rule, i) => {
    if (names.has(rule.notifier)) return [];
    const path = `${prefix}/notify/${i}/notifier`;
    return [{ path, message: `${label(path)}: ${showValue(rule.notifier)} is not a declared notifier; ${expected}` }];
  });
}
