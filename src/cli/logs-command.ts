/** `watchbell logs JOB_ID [EXECUTION_ID] [--tail N] [--stream S] [--step NAME] [--follow]`: an execution's log, as it is or live. */
import { PassThrough } from 'node:stream';
import { ClientError, clientOf, type Client } from './client.js';
import type { Parsed } from './verbs.js';

/** Writes the log to stdout as it arrives; with --follow, until the execution ends. */
export async function runLogs(args: Parsed): Promise<number> {
  const client = clientOf({ url: args.text('url'), token: args.text('token') });
  const job = encodeURIComponent(args.positionals[0]!);
  const tail = args.text('tail');
  const stream = args.text('stream');
  const follow = args.flag('follow');
  const step = args.text('step');
  if (args.positionals[1] === undefined && !follow && stream === undefined && step === undefined) {
    // The newest execution that has output, in one request.
    await client.pipe(`/api/v1/jobs/${job}/tail?n=${encodeURIComponent(tail ?? '100')}`, process.stdout);
    return 0;
  }
  const execution = args.positionals[1] ?? (await newest(client, job, follow));
  const query = new URLSearchParams();
  if (stream !== undefined) query.set('stream', stream);
  if (tail !== undefined) query.set('tail', tail);
  if (step !== undefined) query.set('step', step);
  if (follow) query.set('follow', 'true');
  const q = query.size ? `?${query}` : '';
  await client.pipe(`/api/v1/jobs/${job}/executions/${encodeURIComponent(execution)}/log${q}`, process.stdout);
  return 0;
}

/**
 * The execution to show when none is named: to follow, the newest that runs or ran (a skipped one never
 * will); otherwise the newest with output, as /tail picks it.
 */
async function newest(client: Client, job: string, follow: boolean): Promise<string> {
  if (!follow) {
    // n=0: no lines, only the header naming the execution.
    const headers = await client.pipe(`/api/v1/jobs/${job}/tail?n=0`, new PassThrough().resume());
    const id = headers['x-execution-id'];
    if (typeof id === 'string') return id;
  } else {
    const { data } = await client.call<Array<{ id: string; status: string }>>('GET', `/api/v1/jobs/${job}/executions?limit=100`);
    const found = data.find((e) => e.status !== 'skipped');
    if (found) return found.id;
  }
  throw new ClientError(`job ${decodeURIComponent(job)} has no execution to show yet`);
}
