// Stands alone (no imports) so the dashboard can import the type without the cluster's code.
/** A node as GET /api/v1/nodes shows it. */
export interface NodeView {
  name: string;
  version: string;
  address: string;
  tags: Record<string, string>;
  started_at: string;
  last_heartbeat: string;
  running: number;
  state: 'alive' | 'dead';
}
