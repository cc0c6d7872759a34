/**
 * The NOTIFY channels of a cluster, one pair per store schema (two stores in one database must not hear each
 * other): changes (sent by the triggers of migration 0004) and cancels (cancel-signal.ts). A channel name is at
 * most 63 bytes, so the schema goes in as its md5, as the triggers compute it.
 */
import { createHash } from 'node:crypto';

/** Where the triggers announce changed rows of api_jobs, job_states and executions. */
export function changeChannel(schema: string): string {
  return `watchbell_changes_${md5(schema)}`;
}

/** Where a node asks the node running an execution to cancel it. */
export function cancelChannel(schema: string): string {
  return `watchbell_cancel_${md5(schema)}`;
}

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}
