/** Masks secret values in a text before it is stored, logged or shown: as written, URL-encoded, JSON-escaped, or cut short at the end. */
import { inspect } from 'node:util';

/** What a masked secret becomes. */
export const REDACTED = '******';

/** Shorter values are not masked: they would mask ordinary words and numbers. */
export const MIN_SECRET_LENGTH = 4;

/** Shortest start of a secret masked when a text ends with it (a quoted answer cut at its length limit). */
const MIN_CUT_PREFIX = 6;

/**
 * `text` with every value of `secrets` (of MIN_SECRET_LENGTH characters or more) replaced by REDACTED, also
 * in the spellings a receiver echoing it back may use (`%2F`, `\"`), and a secret's start (6 characters or
 * more) at the very end of the text, where a message was cut.
 */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
    forms.add(JSON.stringify(s).slice(1, -1));
    // As Node's own errors quote a value (`Received 'a\\x00b'`).
    forms.add(inspect(s).slice(1, -1));
  }
  if (forms.size === 0) return text;
  // Longest first, so a URL is masked whole before its path is.
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  let out = text;
  for (const f of sorted) if (out.includes(f)) out = out.split(f).join(REDACTED);
  return maskCutEnd(out, sorted);
}

function maskCutEnd(text: string, forms: readonly string[]): string {
  // A cut text may end with an ellipsis after the cut.
  const body = text.endsWith('…') ? text.slice(0, -1) : text;
  const tail = text.slice(body.length);
  let cutAt = body.length;
  for (const f of forms) {
    const head = f.slice(0, MIN_CUT_PREFIX);
    // Where the secret's first characters occur near the end, does the rest of the text start the secret?
    for (let k = body.indexOf(head, Math.max(0, body.length - f.length)); k !== -1 && k <= body.length - MIN_CUT_PREFIX; k = body.indexOf(head, k + 1)) {
      if (k < cutAt && f.startsWith(body.slice(k))) cutAt = k;
    }
  }
  return cutAt === body.length ? text : `${body.slice(0, cutAt)}${REDACTED}${tail}`;
}
