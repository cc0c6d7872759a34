// Now: what runs and what waits for a slot, kept current by the live events.
import { useEffect, useRef, useState } from 'preact/hooks';
import { enc, getJson, type Execution, type Page } from '../api';
import { ErrorNote, RelTime, Section } from '../components';
import { onConnection, subscribe } from '../live';

export function NowPage() {
  const [running, setRunning] = useState<Map<string, Execution>>(new Map());
  const [queued, setQueued] = useState<Map<string, Execution>>(new Map());
  const [error, setError] = useState<Error | undefined>();
  const [version, setVersion] = useState(0);
  // Events heard while the lists load: applied over the loaded lists, which may be older than them (a run
  // that started after the server read the list would otherwise vanish when the list arrives).
  const heard = useRef<Heard[] | null>(null);

  useEffect(() => {
    const load = (status: string) => getJson<Page<Execution>>(`/api/v1/executions?status=${status}&limit=500`).then((p) => new Map(p.data.map((e) => [e.id, e])));
    const meanwhile: Heard[] = [];
    heard.current = meanwhile;
    Promise.all([load('in_progress'), load('queued')]).then(
      ([r, q]) => {
        for (const h of meanwhile) apply(h, r, q);
        if (heard.current === meanwhile) heard.current = null;
        setRunning(r);
        setQueued(q);
        setError(undefined);
      },
      (e: Error) => setError(e),
    );
  }, [version]);

  // Read again once the event stream (re)connects: what happened before it did is in no event this page hears.
  useEffect(() => onConnection((connected) => connected && setVersion((v) => v + 1)), []);

  useEffect(
    () =>
      subscribe(({ type, data }) => {
        if (type === 'reset') return setVersion((v) => v + 1);
        const e = data?.execution as Execution | undefined;
        if (!e) return;
        heard.current?.push({ type, e });
        setRunning((r) => {
          const next = new Map(r);
          apply({ type, e }, next, new Map());
          return next;
        });
        setQueued((q) => {
          const next = new Map(q);
          apply({ type, e }, new Map(), next);
          return next;
        });
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

interface Heard {
  type: string;
  e: Execution;
}

/** One live event applied to the lists of running and queued executions. */
function apply({ type, e }: Heard, running: Map<string, Execution>, queued: Map<string, Execution>): void {
  if (type === 'execution.queued') queued.set(e.id, e);
  if (type === 'execution.started') {
    queued.delete(e.id);
    running.set(e.id, e);
  }
  if (type === 'execution.finished') {
    queued.delete(e.id);
    running.delete(e.id);
  }
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
