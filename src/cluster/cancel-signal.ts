/**
 * A cancel across the cluster: one node asks the node running an execution to cancel it, through a NOTIFY the
 * other nodes listen for (change-feed.ts). The running node cancels it as a local cancel does, and its record
 * of the end reaches every node through the change feed.
 */
import type { Connection } from '../store/postgres/connection.js';
import { cancelChannel } from './channels.js';

/** What a cancel signal carries: the node that must act, and the execution. */
export interface CancelSignal {
  node: string;
  jobId: string;
  executionId: string;
}

/** Sends a cancel to `signal.node` (delivered within milliseconds to a node that listens; lost if it does not). */
export async function sendCancel(conn: Connection, signal: CancelSignal): Promise<void> {
  await conn.pool.query('SELECT pg_notify($1, $2)', [cancelChannel(conn.url.schema), JSON.stringify({ n: signal.node, j: signal.jobId, e: signal.executionId })]);
}

/** The signal in a cancel notification's payload, or undefined when it is not one. */
export function parseCancel(payload: string): CancelSignal | undefined {
  try {
    const p = JSON.parse(payload) as { n?: unknown; j?: unknown; e?: unknown };
    if (typeof p.n === 'string' && typeof p.j === 'string' && typeof p.e === 'string') return { node: p.n, jobId: p.j, executionId: p.e };
  } catch {
    // not ours
  }
  return undefined;
}
