// Times as people read them: "3 min ago", "in 2 h"; the exact time goes in a tooltip.

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 30],
  ['month', 12],
  ['year', Infinity],
];

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });

/** "3 min ago" / "in 5 sec", relative to `now`. */
export function relative(iso: string, now = Date.now()): string {
  let delta = (Date.parse(iso) - now) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(delta) < size) return rtf.format(Math.round(delta), unit);
    delta /= size;
  }
  return iso;
}

/** The exact time in the browser's zone, or in `timeZone`. */
export function exact(iso: string, timeZone?: string): string {
  try {
    return new Date(iso).toLocaleString(undefined, { timeZone, dateStyle: 'medium', timeStyle: 'long' });
  } catch {
    return new Date(iso).toLocaleString();
  }
}

/** "1.2 s", "3 min 4 s". */
export function seconds(s: number | null): string {
  if (s === null) return '–';
  if (s < 10) return `${s.toFixed(s < 1 ? 2 : 1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
