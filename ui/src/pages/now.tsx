// Now: what runs and what waits for a slot, kept current by the live events.
import { useEffect, useState } from 'preact/hooks';
import { enc, getJson, type Execution, type Page } from '../api';
import { ErrorNote, RelTime, Section } from '../components';
import { subscribe } from '../live';

export function NowPage() {
  const [running, setRunning] = useState<Map<string, Execution>>(new Map());
  const [queued, setQueued] = useState<Map<string, Execution>>(new Map());
  const [error, setError] = useState<Error | undefined>();
  const [version, setVersion] = useState(0);

  useEffect(() => {
    const load = (status: string) => getJson<Page<Execution>>(`/api/v1/executions?status=${status}&limit=500`).then((p) => new Map(p.data.map((e) => [e.id, e])));
    Promise.all([load('in_progress'), load('queued')]).then(
      ([r, q]) => (setRunning(r), setQueued(q), setError(undefined)),
      (e: Error) => setError(e),
    );
  }, [version]);

  useEffect(
    () =>
      subscribe(({ type, data }) => {
        if (type === 'reset') return setVersion((v) => v + 1);
        const e = data?.execution as Execution | undefined;
        if (!e) return;
        const without = (m: Map<string, Execution>) => {
          if (!m.has(e.id)) return m;
          const n = new Map(m);
          n.delete(e.id);
          return n;
        };
        if (type === 'execution.queued') setQueued((m) => new Map(m).set(e.id, e));
        if (type === 'execution.started') {
          setQueued(without);
          setRunning((m) => new Map(m).set(e.id, e));
        }
        if (type === 'execution.finished') {
          setQueued(without);
          setRunning(without);
        }
      }),
    [],
  );

  return (
    <>
      <h1>Now</h1>
      <ErrorNote error={error} />
      <Section title={`Running (${running.size})`}>
        <List executions={[...running.values()]} since="started_at" empty="Nothing is running." />
      </Section>
      <Section title={`Queued (${queued.size})`}>
        <List executions={[...queued.values()]} since="scheduled_at" empty="Nothing waits for a slot." />
      </Section>
    </>
  );
}

function List({ executions, since, empty }: { executions: Execution[]; since: 'started_at' | 'scheduled_at'; empty: string }) {
  if (executions.length === 0) return <p class="muted">{empty}</p>;
  return (
    <ul class="now">
      {executions.map((e) => (
        <li key={e.id} data-execution={e.id}>
          <a href={`/ui/jobs/${enc(e.job_id)}/executions/${e.id}`}>{e.job_id}</a> <span class="muted">{e.trigger}</span>{' '}
          <RelTime iso={e[since] ?? e.started_at} prefix={since === 'started_at' ? 'started ' : ''} />
        </li>
      ))}
    </ul>
  );
}
