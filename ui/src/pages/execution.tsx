// Execution: status, trigger, attempts and steps, the log followed live (stderr apart), download, cancel.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { enc, getJson, post, request, type Execution } from '../api';
import { Badge, ErrorNote, RelTime, Section, useLoad } from '../components';
import { subscribe } from '../live';
import { useCanWrite } from '../session';
import { seconds } from '../time';

/** Characters of log kept on the page; the download has the whole of it. */
const MAX_SHOWN = 1_000_000;

let routesPromise: Promise<Set<string>> | undefined;
/** The API's routes, from its OpenAPI document: restart and advance are offered only where the daemon has them. */
function apiRoutes(): Promise<Set<string>> {
  routesPromise ??= getJson<{ paths: Record<string, unknown> }>('/api/v1/openapi.json').then(
    (d) => new Set(Object.keys(d.paths)),
    () => new Set<string>(),
  );
  return routesPromise;
}

export function ExecutionPage() {
  const { params } = useRoute();
  const jobId = params.id!;
  const eid = params.eid!;
  const base = `/api/v1/jobs/${enc(jobId)}/executions/${enc(eid)}`;
  const canWrite = useCanWrite();
  const loaded = useLoad(() => getJson<{ data: Execution }>(base).then((r) => r.data), [base]);
  const [live, setLive] = useState<Execution | undefined>();
  const routes = useLoad(apiRoutes, []);
  const [actionError, setActionError] = useState<Error | undefined>();
  const execution = live ?? loaded.data;

  useEffect(() => {
    setLive(undefined);
    return subscribe(({ type, data }) => {
      if (type.startsWith('execution.') && data.execution?.id === eid) setLive(data.execution as Execution);
      if (type === 'reset') loaded.reload();
    });
  }, [eid]);

  if (!execution) return <ErrorNote error={loaded.error} />;
  const running = execution.status === 'queued' || execution.status === 'in_progress';
  const has = (action: string) => routes.data?.has(`/api/v1/jobs/{id}/executions/{eid}/${action}`);
  const act = async (action: string) => {
    try {
      setActionError(undefined);
      await post(`${base}/${action}`);
      loaded.reload();
    } catch (e) {
      setActionError(e as Error);
    }
  };
  return (
    <>
      <p class="crumbs">
        <a href="/ui/jobs">Jobs</a> / <a href={`/ui/jobs/${enc(jobId)}`}>{jobId}</a> /
      </p>
      <h1>
        Execution <code>{execution.id}</code> <Badge status={execution.status} />
      </h1>
      {canWrite && (
        <p class="actions">
          {running && (
            <button type="button" onClick={() => void act('cancel')}>
              Cancel
            </button>
          )}
          {!running && has('restart') && (
            <button type="button" onClick={() => void act('restart')}>
              Restart
            </button>
          )}
          {running && has('advance') && (
            <button type="button" onClick={() => void act('advance')}>
              Advance
            </button>
          )}
        </p>
      )}
      <ErrorNote error={actionError} />
      <dl class="facts">
        <dt>Trigger</dt>
        <dd>{execution.trigger}{execution.scheduled_at && <> for the slot of <RelTime iso={execution.scheduled_at} /></>}</dd>
        <dt>Started</dt>
        <dd>
          <RelTime iso={execution.started_at} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <RelTime iso={execution.finished_at} />
        </dd>
        <dt>Duration</dt>
        <dd>{seconds(execution.duration)}</dd>
        <dt>Exit</dt>
        <dd>
          {execution.exit_code ?? '–'}
          {execution.signal && ` (signal ${execution.signal})`}
          {execution.reason && execution.reason !== 'exit' && ` · ${execution.reason}`}
        </dd>
        {execution.error && (
          <>
            <dt>Error</dt>
            <dd class="error">{execution.error}</dd>
          </>
        )}
      </dl>
      <Section title="Timeline">
        <ol class="timeline">
          {execution.attempts.map((a, i) => (
            <li key={`a${i}`}>
              <strong>Attempt {i + 1}</strong> <RelTime iso={a.started_at} />
              {a.finished_at && <> · {seconds((Date.parse(a.finished_at) - Date.parse(a.started_at)) / 1000)}</>}
              {a.exit_code !== null && <> · exit {a.exit_code}</>}
              {a.signal && <> · {a.signal}</>}
              {a.reason && a.reason !== 'exit' && <> · {a.reason}</>}
              {a.error && <div class="error small">{a.error}</div>}
            </li>
          ))}
          {(execution.steps ?? []).map((s, i) => (
            <li key={`s${i}`} class={`step s-${s.status}`}>
              <strong>Step {s.name}</strong> <Badge status={s.status ?? 'queued'} /> {s.started_at && <RelTime iso={s.started_at} />}
              {s.duration != null && <> · {seconds(s.duration)}</>}
              {s.exit_code != null && <> · exit {s.exit_code}</>}
              {s.error && <div class="error small">{s.error}</div>}
            </li>
          ))}
          {execution.attempts.length === 0 && !execution.steps?.length && <li class="muted">Not started yet.</li>}
        </ol>
      </Section>
      <Section title="Log">
        <p>
          <DownloadLog base={base} name={`${jobId}-${eid}.log`} />
        </p>
        <LogView url={`${base}/log?follow=true`} label="Output (stdout and stderr)" key={`all${eid}`} />
        <h3>stderr</h3>
        <LogView url={`${base}/log?follow=true&stream=stderr`} label="stderr only" key={`err${eid}`} empty="No stderr output." />
      </Section>
    </>
  );
}

/** A log followed as it is written: the chunked answer of `?follow=true`, read as it arrives. */
function LogView({ url, label, empty }: { url: string; label: string; empty?: string }) {
  const [text, setText] = useState('');
  const [state, setState] = useState<'following' | 'ended' | 'failed'>('following');
  const pre = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  useEffect(() => {
    const controller = new AbortController();
    setText('');
    setState('following');
    (async () => {
      const res = await request(url, { signal: controller.signal });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        setText((t) => (t.length + value.length > MAX_SHOWN ? (t + value).slice(-MAX_SHOWN) : t + value));
      }
      setState('ended');
    })().catch(() => !controller.signal.aborted && setState('failed'));
    return () => controller.abort();
  }, [url]);
  useEffect(() => {
    const el = pre.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <div class="log">
      <pre
        ref={pre}
        tabIndex={0}
        aria-label={label}
        aria-live="off"
        data-state={state}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
        }}
      >
        {text || (state === 'following' ? '' : (empty ?? 'No output.'))}
      </pre>
      <p class="muted small" role="status">
        {state === 'following' ? 'Following live…' : state === 'ended' ? 'End of log.' : 'The log could not be read.'}
      </p>
    </div>
  );
}

/** The raw log as a file: fetched with the token (a plain link could not send it), then saved. */
function DownloadLog({ base, name }: { base: string; name: string }) {
  return (
    <button
      type="button"
      onClick={async () => {
        const blob = await (await request(`${base}/log`)).blob();
        const a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = name;
        a.click();
        setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      }}
    >
      Download raw log
    </button>
  );
}

