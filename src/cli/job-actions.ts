/** `watchbell run|pause|resume JOB_ID...`, and `watchbell cancel|restart|advance JOB_ID EXECUTION_ID`. */
import { clientOf } from './client.js';
import { printable } from './printable.js';
import { UsageError } from './usage-error.js';
import type { Command, Parsed } from './verbs.js';

interface ActionAnswer {
  message: string;
  execution_id?: string;
  restarted_from?: string;
  next_run?: string | null;
  status?: string;
}

/** The command for one action: applied to every id given, in order, each reported; exit 1 if any failed. */
export function jobAction(action: 'run' | 'pause' | 'resume'): Command {
  return async (args: Parsed) => {
    const client = clientOf({ url: args.text('url'), token: args.text('token') });
    const ids = args.positionals;
    let failed = 0;
    for (const id of ids) {
      try {
        const { data } = await client.call<ActionAnswer>('POST', `/api/v1/jobs/${encodeURIComponent(id)}/${action}`);
        const prefix = ids.length > 1 ? `${printable(id)}: ` : '';
        process.stdout.write(args.flag('json') ? `${JSON.stringify(data)}\n` : `${prefix}${describe(data)}\n`);
      } catch (err) {
        if ((err as Error).name !== 'ClientError') throw err;
        // The others are still done: one unknown id in a list must not leave the rest unpaused.
        failed++;
        process.stderr.write(`watchbell: ${(err as Error).message}\n`);
      }
    }
    return failed ? 1 : 0;
  };
}

/** The command for an action on one execution: cancel, restart, or advance (with `key=value` outputs after the ids). */
export function executionAction(action: 'cancel' | 'restart' | 'advance'): Command {
  return async (args: Parsed) => {
    const [job, execution, ...pairs] = args.positionals;
    const body = action === 'advance' ? { outputs: outputsOf(pairs) } : undefined;
    const client = clientOf({ url: args.text('url'), token: args.text('token') });
    const path = `/api/v1/jobs/${encodeURIComponent(job!)}/executions/${encodeURIComponent(execution!)}/${action}`;
    const { data } = await client.call<ActionAnswer>('POST', path, body);
    process.stdout.write(args.flag('json') ? `${JSON.stringify(data)}\n` : `${describe(data)}\n`);
    return 0;
  };
}

/** `key=value` arguments as outputs; the value is everything after the first `=`. */
function outputsOf(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`${JSON.stringify(pair)}: expected key=value`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function describe(d: ActionAnswer): string {
  const extra = d.execution_id ? ` (execution ${d.execution_id})` : d.next_run ? ` (next run ${d.next_run})` : '';
  return printable(`${d.message}${extra}`);
}
