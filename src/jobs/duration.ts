/** Durations: integer seconds, or strings like `90s`, `5m`, `1h30m`, `1d`. */

const UNIT_SECONDS: Record<string, number> = { d: 86400, h: 3600, m: 60, s: 1 };
const DURATION_RE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Parses a duration into whole seconds, or returns null when it is not one. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const m = DURATION_RE.exec(text);
  if (!m || text === '') return null;
  const [, d, h, mi, s] = m;
  let total = 0;
  for (const [part, unit] of [[d, 'd'], [h, 'h'], [mi, 'm'], [s, 's']] as const) {
    if (part !== undefined) total += Number(part) * UNIT_SECONDS[unit]!;
  }
  return Number.isSafeInteger(total) ? total : null;
}

/** Formats seconds the way a person writes them: 5400 -> `1h30m`, 0 -> `0s`. */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = Math.floor(rest / UNIT_SECONDS[unit]!);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNIT_SECONDS[unit]!;
  }
  return out;
}
