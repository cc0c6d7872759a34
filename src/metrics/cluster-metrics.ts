/** The cluster's gauges, registered only in cluster mode (single-host metrics stay as they were). */
import type { Registry } from 'prom-client';
import { Gauge } from '../vendor/prom-client.js';

/** What the cluster gauges read at scrape time (as of the node's last heartbeat). */
export interface ClusterMetricsSource {
  /** This node's name: a constant `node` label on every series, so the nodes' metrics can be told apart. */
  node: string;
  status(): { alive: number; dead: number; drifted: number };
}

/** Adds the `node` label and the cluster gauges to `registry`. */
export function addClusterMetrics(registry: Registry, source: ClusterMetricsSource): void {
  registry.setDefaultLabels({ node: source.node });
  const registers = [registry];
  new Gauge({
    name: 'watchbell_cluster_nodes',
    help: 'Nodes of the cluster by state (alive: holding a lease; dead: stopped or past it), as of the last heartbeat.',
    labelNames: ['state'],
    registers,
    collect() {
      const s = source.status();
      this.set({ state: 'alive' }, s.alive);
      this.set({ state: 'dead' }, s.dead);
    },
  });
  new Gauge({
    name: 'watchbell_config_drift_jobs',
    help: 'Config jobs this node defines differently from another live node (or that only one of them has).',
    registers,
    collect() {
      this.set(source.status().drifted);
    },
  });
}
