/** `watchbell executions [JOB_ID] [--status S] [--limit N]`: the newest executions, of one job or of all. */
import { clientOf } from './client.js';
import { table } from './printable.js';
import type { Parsed } from './verbs.js';

interface ExecutionRow {
  id: string;
  job_id: string;
  status: string;
  trigger: string;
  started_at: string | null;
  duration: number | null;
  exit_code: number | null;
}

/** Prints a table (or --json, an array) of executions, newest first. */
export async function runExecutions(args: Parsed): Promise<number> {
  const client = clientOf({ url: args.text('url'), token: args.text('token') });
  const query = new URLSearchParams({ limit: args.text('limit') ?? '20' });
  const status = args.text('status');
  if (status !== undefined) query.set('status', status);
  const job = args.positionals[0];
  const path = job === undefined ? '/api/v1/executions' : `/api/v1/jobs/${encodeURIComponent(job)}/executions`;
  const { data } = await client.call<ExecutionRow[]>('GET', `${path}?${query}`);
  if (args.flag('json')) {
    process.stdout.write(`${JSON.stringify(data)}\n`);
    return 0;
  }
  const rows = data.map((e) => [
    e.id, e.job_id, e.status, e.trigger, e.started_at ?? '-', e.duration === null ? '-' : `${e.duration.toFixed(1)}s`, e.exit_code === null ? '-' : String(e.exit_code),
  ]);
  process.stdout.write(table([['ID', 'JOB', 'STATUS', 'TRIGGER', 'STARTED', 'DURATION', 'EXIT'], ...rows]));
  return 0;
}
