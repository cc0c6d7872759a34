// Job: its definition as YAML, where it comes from, its next runs, a chart of recent durations, its executions.
import { dump } from 'js-yaml';
import { useEffect, useState } from 'preact/hooks';
import { useLocation, useRoute } from 'preact-iso';
import { enc, getJson, post, type Execution, type Job, type Page } from '../api';
import { Badge, ErrorNote, RelTime, Section, useLoad } from '../components';
import { scheduleInWords } from '../cron-words';
import { subscribe } from '../live';
import { useCanWrite } from '../session';
import { exact, seconds } from '../time';
import { DurationChart } from './duration-chart';

const READ_ONLY = new Set(['id', 'source', 'status', 'created_at', 'updated_at', 'next_run', 'last_run']);
const SOURCES: Record<string, string> = { config: 'the config file', api: 'the API', label: 'container labels' };

export function JobPage() {
  const { params } = useRoute();
  const { route } = useLocation();
  const id = params.id!;
  const canWrite = useCanWrite();
  const job = useLoad(() => getJson<{ data: Job }>(`/api/v1/jobs/${enc(id)}`).then((r) => r.data), [id]);
  const runs = useLoad(() => getJson<Page<Execution>>(`/api/v1/jobs/${enc(id)}/executions?limit=50`), [id]);
  const j = job.data;
  const next = useLoad(
    async () => (j && j.status === 'active' ? (await getJson<{ data: { next_runs: string[] } }>(`/api/v1/schedule/next?schedule=${enc(j.schedule)}&timezone=${enc(j.timezone)}&n=5`)).data.next_runs : []),
    [j?.schedule, j?.timezone, j?.status],
  );

  useEffect(
    () =>
      subscribe(({ type, data }) => {
        if (type === 'reset' || type === 'config.reloaded') return (job.reload(), runs.reload());
        if (data?.job_id !== id) return;
        if (type.startsWith('execution.')) runs.reload();
        else job.reload();
      }),
    [id],
  );

  const act = async (action: 'run' | 'pause' | 'resume', body?: unknown) => {
    const data = await post<{ execution_id?: string }>(`/api/v1/jobs/${enc(id)}/${action}`, body);
    if (action === 'run' && data.execution_id) route(`/ui/jobs/${enc(id)}/executions/${data.execution_id}`);
    else job.reload();
  };

  if (!j) return <ErrorNote error={job.error} />;
  const definition = Object.fromEntries(Object.entries(j).filter(([k, v]) => !READ_ONLY.has(k) && v !== null && !(Array.isArray(v) && v.length === 0)));
  const executions = runs.data?.data ?? [];
  return (
    <>
      <p class="crumbs">
        <a href="/ui/jobs">Jobs</a> /
      </p>
      <h1>
        {j.name} <Badge status={j.status} />
      </h1>
      {canWrite && (
        <p class="actions">
          <button type="button" onClick={() => void act('run')}>
            Run now
          </button>
          {j.status === 'active' && (
            <button type="button" onClick={() => void act('pause')}>
              Pause
            </button>
          )}
          {j.status === 'paused' && (
            <button type="button" onClick={() => void act('resume')}>
              Resume
            </button>
          )}
        </p>
      )}
      {canWrite && <RunWithParameters run={(environment) => act('run', { environment })} />}
      <dl class="facts">
        <dt>Schedule</dt>
        <dd>
          {scheduleInWords(j.schedule)} <code>{j.schedule}</code> ({j.timezone})
        </dd>
        <dt>Next run</dt>
        <dd>
          <RelTime iso={j.next_run} timeZone={j.timezone} />
        </dd>
        <dt>Defined in</dt>
        <dd>{SOURCES[j.source] ?? j.source}</dd>
        <dt>Last change</dt>
        <dd>
          <RelTime iso={j.updated_at} />
        </dd>
      </dl>
      <div class="cols">
        <Section title="Definition">
          <pre class="yaml" tabIndex={0} aria-label="job definition as YAML">
            {dump({ [j.id]: definition }, { lineWidth: 100, noRefs: true })}
          </pre>
        </Section>
        <Section title="Next 5 runs">
          {j.status !== 'active' ? (
            <p class="muted">None while {j.status}.</p>
          ) : (
            <ol class="next">
              {(next.data ?? []).map((t) => (
                <li key={t}>
                  <RelTime iso={t} timeZone={j.timezone} /> <span class="muted small">{exact(t)}</span>
                </li>
              ))}
            </ol>
          )}
        </Section>
      </div>
      <Section title={`Durations of the last ${executions.length} runs`}>
        <DurationChart jobId={j.id} executions={executions} />
      </Section>
      <Section title="Executions">
        <ErrorNote error={runs.error} />
        {executions.length === 0 ? (
          <p class="muted">No runs yet.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Started</th>
                  <th scope="col">Status</th>
                  <th scope="col">Trigger</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Exit</th>
                  <th scope="col">Steps</th>
                </tr>
              </thead>
              <tbody>
                {executions.map((e) => (
                  <tr key={e.id} data-execution={e.id}>
                    <td>
                      <a href={`/ui/jobs/${enc(j.id)}/executions/${e.id}`}>{e.started_at ? <RelTime iso={e.started_at} /> : e.id}</a>
                    </td>
                    <td>
                      <Badge status={e.status} />
                    </td>
                    <td>{e.trigger}</td>
                    <td>{seconds(e.duration)}</td>
                    <td>{e.exit_code ?? e.signal ?? '–'}</td>
                    <td>{e.steps ? e.steps.map((s, i) => <span key={i} class={`dot s-${s.status}`} title={`${s.name}: ${s.status}`} />) : <span class="muted">–</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </>
  );
}

/** `KEY=value` lines into an environment; the first bad line is named (the daemon validates the rest). */
export function parseParameters(text: string): Record<string, string> {
  const environment: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`line ${i + 1}: expected KEY=value, with a KEY of letters, digits and _`);
    environment[key] = line.slice(eq + 1);
  });
  return environment;
}

/** Run-now with environment overrides for that one execution (POST /run {"environment": ...}). */
function RunWithParameters({ run }: { run: (environment: Record<string, string>) => Promise<void> }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<Error | undefined>();
  return (
    <details class="run-params">
      <summary>Run with parameters</summary>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setError(undefined);
          Promise.resolve()
            .then(() => run(parseParameters(text)))
            .catch((err: Error) => setError(err));
        }}
      >
        <label for="run-params">Environment for this run, one KEY=value per line (values are not shown afterwards)</label>
        <textarea id="run-params" rows={4} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <ErrorNote error={error} />
        <button type="submit">Run with these</button>
      </form>
    </details>
  );
}
