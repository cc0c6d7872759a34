// Health: the facts of GET /health, the notifiers' last errors, the live event stream, cluster nodes (with config drift and jobs no node may run) when there are any.
import { useEffect } from 'preact/hooks';
import type { NodeView as ClusterNode } from '../../../src/cluster/node-view.js';
import { getJson } from '../api';
import { ErrorNote, RelTime, Section, useLoad } from '../components';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Health = Record<string, any>;

export function HealthPage() {
  // /health answers 503 with the same body when the daemon is DOWN: read either way.
  const health = useLoad(async () => (await fetch('/health', { cache: 'no-store' })).json() as Promise<Health>, []);
  // The embedded store makes no cluster and answers an empty list: the section then stays away.
  const nodes = useLoad(() => getJson<{ data: ClusterNode[] }>('/api/v1/nodes').then((r) => r.data), []);
  useEffect(() => {
    const t = setInterval(() => (health.reload(), nodes.reload()), 10_000);
    return () => clearInterval(t);
  }, []);
  const h = health.data;
  if (!h) return <ErrorNote error={health.error} />;
  const notifiers = Object.entries((h.notifiers ?? {}) as Record<string, Health>);
  return (
    <>
      <h1>
        Health <span class={`badge ${h.status === 'UP' ? 's-success' : 's-failure'}`}>{h.status}</span>
      </h1>
      <dl class="facts">
        <dt>Version</dt>
        <dd>{h.version}</dd>
        <dt>Up for</dt>
        <dd>{uptime(h.uptime)}</dd>
        <dt>Jobs</dt>
        <dd>{h.jobs ? `${h.jobs.total} (${h.jobs.active} active, ${h.jobs.paused} paused, ${h.jobs.completed} completed)` : '–'}</dd>
        <dt>Executions</dt>
        <dd>
          {h.running} running, {h.queued} queued
        </dd>
        <dt>Store</dt>
        <dd>
          {h.store?.status} <code>{h.store?.data_dir}</code>
        </dd>
        {h.events && (
          <>
            <dt>Live event clients</dt>
            <dd>
              {h.events.clients} connected, {h.events.dropped} dropped for not keeping up
            </dd>
          </>
        )}
      </dl>
      <Section title="Config">
        <dl class="facts">
          <dt>File</dt>
          <dd>
            <code>{h.config?.file}</code>
            {h.config?.included?.length ? ` and ${h.config.included.length} included` : ''}
            {h.config?.watch ? ' (watched for changes)' : ''}
          </dd>
          <dt>Loaded</dt>
          <dd>
            <RelTime iso={h.config?.loaded_at ?? null} />
          </dd>
          <dt>Last reload</dt>
          <dd>
            <RelTime iso={h.config?.last_reload ?? null} />
          </dd>
          <dt>Last reload error</dt>
          <dd>{h.config?.last_error ? <pre class="error">{[h.config.last_error].flat().join('\n')}</pre> : <span class="muted">none</span>}</dd>
        </dl>
      </Section>
      <Section title="Notifiers">
        {notifiers.length === 0 ? (
          <p class="muted">No notifiers configured.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Notifier</th>
                  <th scope="col">Target</th>
                  <th scope="col">Sent / failed / queued</th>
                  <th scope="col">Last sent</th>
                  <th scope="col">Last error</th>
                </tr>
              </thead>
              <tbody>
                {notifiers.map(([name, n]) => (
                  <tr key={name}>
                    <td>
                      {name} <span class="muted small">{n.type}</span>
                    </td>
                    <td>
                      <code>{n.target}</code>
                    </td>
                    <td>
                      {n.sent} / {n.failed} / {n.queued}
                    </td>
                    <td>
                      <RelTime iso={n.last_sent_at ?? null} />
                    </td>
                    <td>{n.last_error ? <LastError e={n.last_error} /> : <span class="muted">none</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      {(nodes.data?.length ?? 0) > 0 && (
        <Section title="Cluster nodes">
          <p>
            This daemon is node <code>{h.cluster?.node}</code>; its lease is {h.cluster?.lease}.
          </p>
          <ClusterFacts drift={h.config?.drift ?? []} noNode={h.cluster?.no_node ?? []} />
          <div class="table-wrap">
            <table class="nodes">
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">State</th>
                  <th scope="col">Address</th>
                  <th scope="col">Tags</th>
                  <th scope="col">Running</th>
                  <th scope="col">Last heartbeat</th>
                  <th scope="col">Version</th>
                </tr>
              </thead>
              <tbody>
                {nodes.data!.map((n) => (
                  <tr key={n.name} data-node={n.name}>
                    <td>{n.name}</td>
                    <td>
                      <span class={`badge ${n.state === 'alive' ? 's-success' : 's-failure'}`}>{n.state}</span>
                    </td>
                    <td>
                      <code>{n.address || '–'}</code>
                    </td>
                    <td>{Object.entries(n.tags).map(([k, v]) => `${k}=${v}`).join(', ') || <span class="muted">none</span>}</td>
                    <td>{n.running}</td>
                    <td>
                      <RelTime iso={n.last_heartbeat} />
                    </td>
                    <td>{n.version}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Section>
      )}
    </>
  );
}

/** What an operator must act on in a cluster: config jobs defined differently on other nodes, jobs no live node may run. */
function ClusterFacts({ drift, noNode }: { drift: Array<{ job_id: string; nodes: string[] }>; noNode: string[] }) {
  const job = (id: string) => <a href={`/ui/jobs/${encodeURIComponent(id)}`}>{id}</a>;
  return (
    <dl class="facts">
      <dt>Config drift</dt>
      <dd data-fact="drift">
        {drift.length === 0 ? (
          <span class="muted">none: the live nodes define the config jobs alike</span>
        ) : (
          drift.map((d) => (
            <div key={d.job_id}>
              {job(d.job_id)} is defined differently on {d.nodes.join(', ')}
            </div>
          ))
        )}
      </dd>
      <dt>No live node matches run_on</dt>
      <dd data-fact="no-node">
        {noNode.length === 0 ? <span class="muted">none</span> : noNode.map((id, i) => <span key={id}>{i > 0 && ', '}{job(id)}</span>)}
      </dd>
    </dl>
  );
}

function LastError({ e }: { e: Health | string }) {
  if (typeof e === 'string') return <span class="error">{e}</span>;
  return (
    <span class="error">
      {e.message ?? e.error ?? JSON.stringify(e)} {e.at && <RelTime iso={e.at} />}
    </span>
  );
}

function uptime(s: number | undefined): string {
  if (s === undefined) return '–';
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}
