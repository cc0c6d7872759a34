// A schedule in words ("At 02:30 AM"); expressions cronstrue does not read (macros, @every) are shown as they are.
import cronstrue from 'cronstrue';

const MACROS: Record<string, string> = {
  '@yearly': 'Once a year',
  '@annually': 'Once a year',
  '@monthly': 'Once a month',
  '@weekly': 'Once a week',
  '@daily': 'Once a day',
  '@midnight': 'Once a day, at midnight',
  '@hourly': 'Once an hour',
};

export function scheduleInWords(schedule: string): string {
  const s = schedule.trim();
  if (MACROS[s]) return MACROS[s]!;
  const every = /^@every\s+(\S+)$/.exec(s);
  if (every) return `Every ${every[1]}`;
  if (s.startsWith('@')) return s;
  if (/^\d{4}-\d\d-\d\dT/.test(s)) return 'Once';
  try {
    return cronstrue.toString(s, { use24HourTimeFormat: true, verbose: false });
  } catch {
    return s;
  }
}
