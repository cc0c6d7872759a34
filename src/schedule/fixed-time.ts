/** Which cron jobs Vixie cron calls fixed-time: those it does not rerun after the wall clock is set back. */

const FIXED_NICKNAMES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight']);

/**
 * True when neither the minute nor the hour field of `pattern` starts with `*` (Vixie cron's MIN_STAR /
 * HR_STAR test): such a job names the times it runs at, so a slot that recurs after a step back is one it
 * already ran. Five fields are minute first; six (croner's seconds field first) are minute second.
 */
export function isFixedTime(pattern: string): boolean {
  const text = pattern.trim().toLowerCase();
  if (text.startsWith('@')) return FIXED_NICKNAMES.has(text);
  const fields = text.split(/\s+/);
  const minute = fields.length >= 6 ? 1 : 0;
  return !fields[minute]?.startsWith('*') && !fields[minute + 1]?.startsWith('*');
}
