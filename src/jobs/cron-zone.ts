/**
 * croner computes a time zone's slots through Intl.DateTimeFormat; the first one built pages in ICU's
 * zone and locale data (~5.5 MiB of an idle daemon's RSS) and each slot costs a formatting call. UTC,
 * the default zone, needs neither: as a fixed offset of 0 croner gives the same slots (compared over
 * thousands of expressions and instants) with plain Date arithmetic.
 */
const UTC_NAMES = new Set(['UTC', 'Etc/UTC']);

/** True for the names of UTC that croner is given as an offset of 0. */
export function isUtcName(zone: string): boolean {
  return UTC_NAMES.has(zone);
}

/** croner's options for a job's time zone: `{utcOffset: 0}` for UTC, else `{timezone}`. */
export function cronZone(timezone: string): { timezone: string } | { utcOffset: number } {
  return isUtcName(timezone) ? { utcOffset: 0 } : { timezone };
}
