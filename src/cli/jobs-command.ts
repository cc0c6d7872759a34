/** `watchbell jobs`: every job, a page of 1,000 at a time, as a table, ids or JSON. */
import { clientOf } from './client.js';
import { table } from './printable.js';
import type { Parsed } from './verbs.js';

/** The API's largest page (api/query.ts MAX_LIMIT). */
const PAGE = 1000;

interface JobRow {
  id: string;
  status: string;
  schedule: string;
  next_run: string | null;
  last_run: { status?: string } | null;
}

/** Fetches every page (until `pagination.total` is reached) and prints them; exit 1 if the daemon refuses. */
export async function runJobs(args: Parsed): Promise<number> {
  const client = clientOf({ url: args.text('url'), token: args.text('token') });
  const filters = new URLSearchParams({ limit: String(PAGE) });
  for (const k of ['status', 'tag', 'q', 'sort']) {
    const v = args.text(k);
    if (v !== undefined) filters.set(k, v);
  }
  const jobs: JobRow[] = [];
  for (let offset = 0; ; offset += PAGE) {
    filters.set('offset', String(offset));
    const page = await client.call<JobRow[]>('GET', `/api/v1/jobs?${filters}`);
    jobs.push(...page.data);
    // A job deleted meanwhile shifts later pages by one; an empty page ends the walk whatever `total` said.
    if (page.data.length === 0 || offset + PAGE >= (page.pagination?.total ?? 0)) break;
  }
  if (args.flag('json')) process.stdout.write(`${JSON.stringify(jobs)}\n`);
  else if (args.flag('ids')) process.stdout.write(jobs.map((j) => `${j.id}\n`).join(''));
  else {
    const rows = jobs.map((j) => [j.id, j.status, j.schedule, j.next_run ?? '-', j.last_run?.status ?? '-']);
    process.stdout.write(table([['ID', 'STATUS', 'SCHEDULE', 'NEXT RUN', 'LAST'], ...rows]));
  }
  return 0;
}
