// Jobs: filters (server-side, as the API), a page of jobs with their recent runs as a strip, live.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { enc, getJson, post, type Execution, type Job, type Page } from '../api';
import { Badge, ErrorNote, RelTime, Strip } from '../components';
import { scheduleInWords } from '../cron-words';
import { subscribe } from '../live';
import { useCanWrite } from '../session';

const PAGE_SIZE = 50;
const STRIP = 20;

export function JobsPage() {
  const { query, route, path } = useLocation();
  const canWrite = useCanWrite();
  const status = query.status ?? '';
  const tag = query.tag ?? '';
  const q = query.q ?? '';
  const offset = Math.max(0, Number(query.offset ?? 0) || 0);
  const [page, setPage] = useState<Page<Job> | undefined>();
  const [error, setError] = useState<Error | undefined>();
  const [strips, setStrips] = useState<Record<string, Execution[]>>({});
  const [note, setNote] = useState<{ text: string; href?: string } | null>(null);
  const [version, setVersion] = useState(0);
  const idsRef = useRef<Set<string>>(new Set());

  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  if (status) params.set('status', status);
  if (tag) params.set('tag', tag);
  if (q) params.set('q', q);
  const listUrl = `/api/v1/jobs?${params}`;

  useEffect(() => {
    let live = true;
    getJson<Page<Job>>(listUrl).then(
      (p) => {
        if (!live) return;
        setPage(p);
        setError(undefined);
        idsRef.current = new Set(p.data.map((j) => j.id));
        void loadStrips(p.data.map((j) => j.id), (batch) => live && setStrips((s) => ({ ...s, ...batch })));
      },
      (e: Error) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [listUrl, version]);

  // Live: runs update the strips in place; a job's own event replaces its row; anything that changes the list reloads it.
  useEffect(() => {
    let reloadTimer: ReturnType<typeof setTimeout> | undefined;
    const reload = () => {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => setVersion((v) => v + 1), 300);
    };
    const off = subscribe(({ type, data }) => {
      if (type.startsWith('execution.')) {
        const e = data.execution as Execution;
        if (!idsRef.current.has(e.job_id)) return;
        setStrips((s) => ({ ...s, [e.job_id]: merge(s[e.job_id] ?? [], e) }));
        if (type === 'execution.finished') setPage((p) => p && { ...p, data: p.data.map((j) => (j.id === e.job_id ? { ...j, last_run: e } : j)) });
      } else if ((type === 'job.paused' || type === 'job.resumed' || type === 'job.changed') && data.job && idsRef.current.has(data.job_id)) {
        setPage((p) => p && { ...p, data: p.data.map((j) => (j.id === data.job_id ? (data.job as Job) : j)) });
      } else if (type === 'job.created' || type === 'job.deleted' || type === 'config.reloaded' || type === 'reset') reload();
    });
    return () => {
      off();
      clearTimeout(reloadTimer);
    };
  }, []);

  const setFilter = (next: Record<string, string>) => {
    const u = new URLSearchParams({ ...(status && { status }), ...(tag && { tag }), ...(q && { q }), ...next });
    for (const [k, v] of [...u]) if (!v || (k === 'offset' && v === '0')) u.delete(k);
    route(`${path === '/' ? '/ui/jobs' : path}${u.size ? `?${u}` : ''}`, true);
  };

  const act = async (job: Job, action: 'run' | 'pause' | 'resume') => {
    try {
      const data = await post<{ execution_id?: string; status?: string }>(`/api/v1/jobs/${enc(job.id)}/${action}`);
      if (action === 'run') setNote({ text: `Started ${job.name}: execution ${data.execution_id}`, href: `/ui/jobs/${enc(job.id)}/executions/${data.execution_id}` });
      else setPage((p) => p && { ...p, data: p.data.map((j) => (j.id === job.id ? { ...j, status: data.status as Job['status'] } : j)) });
    } catch (e) {
      setNote({ text: `${action} ${job.name}: ${(e as Error).message}` });
    }
  };

  const total = page?.pagination.total ?? 0;
  return (
    <>
      <h1>Jobs</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={status} onChange={(e) => setFilter({ status: e.currentTarget.value, offset: '0' })}>
            <option value="">any</option>
            <option value="active">active</option>
            <option value="paused">paused</option>
            <option value="completed">completed</option>
          </select>
        </label>
        <label>
          Tag
          <input type="text" value={tag} size={10} onChange={(e) => setFilter({ tag: e.currentTarget.value.trim(), offset: '0' })} />
        </label>
        <label>
          Search
          <input type="search" value={q} placeholder="id, name, command, tag" onChange={(e) => setFilter({ q: e.currentTarget.value.trim(), offset: '0' })} />
        </label>
      </form>
      {note && (
        <p class="note" role="status">
          {note.href ? <a href={note.href}>{note.text}</a> : note.text}{' '}
          <button type="button" class="link" onClick={() => setNote(null)} aria-label="Dismiss">
            ×
          </button>
        </p>
      )}
      <ErrorNote error={error} />
      {page && (
        <>
          <div class="table-wrap">
            <table class="jobs">
              <caption class="sr-only">Jobs {offset + 1} to {offset + page.data.length} of {total}</caption>
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Schedule</th>
                  <th scope="col">Next run</th>
                  <th scope="col">Last {STRIP} runs</th>
                  <th scope="col">Status</th>
                  {canWrite && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {page.data.map((job) => (
                  <tr key={job.id} data-job={job.id}>
                    <td>
                      <a href={`/ui/jobs/${enc(job.id)}`} class="job-name">
                        {job.name}
                      </a>
                      {job.name !== job.id && <span class="muted small"> {job.id}</span>}
                      <div class="tags">
                        {job.tags.map((t) => (
                          <button type="button" class="tag" key={t} onClick={() => setFilter({ tag: t, offset: '0' })} aria-label={`Filter by tag ${t}`}>
                            {t}
                          </button>
                        ))}
                      </div>
                    </td>
                    <td data-label="Schedule">
                      <span title={`${job.schedule} (${job.timezone})`}>{scheduleInWords(job.schedule)}</span>
                    </td>
                    <td data-label="Next run">
                      <RelTime iso={job.next_run} timeZone={job.timezone} />
                    </td>
                    <td data-label={`Last ${STRIP} runs`}>
                      <Strip jobId={job.id} executions={strips[job.id]} />
                    </td>
                    <td data-label="Status">
                      <Badge status={job.status} />
                    </td>
                    {canWrite && (
                      <td class="actions">
                        <button type="button" onClick={() => void act(job, 'run')} aria-label={`Run now: ${job.name}`}>
                          Run now
                        </button>
                        {job.status === 'active' && (
                          <button type="button" onClick={() => void act(job, 'pause')} aria-label={`Pause: ${job.name}`}>
                            Pause
                          </button>
                        )}
                        {job.status === 'paused' && (
                          <button type="button" onClick={() => void act(job, 'resume')} aria-label={`Resume: ${job.name}`}>
                            Resume
                          </button>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {page.data.length === 0 && <p class="muted">No job matches.</p>}
          <nav class="pager" aria-label="Pages of jobs">
            <button type="button" disabled={offset === 0} onClick={() => setFilter({ offset: String(Math.max(0, offset - PAGE_SIZE)) })}>
              Previous
            </button>
            <span>
              {total === 0 ? 0 : offset + 1}–{offset + page.data.length} of {total}
            </span>
            <button type="button" disabled={offset + PAGE_SIZE >= total} onClick={() => setFilter({ offset: String(offset + PAGE_SIZE) })}>
              Next
            </button>
          </nav>
        </>
      )}
    </>
  );
}

/**
 * The strips of a page of jobs, five requests at a time (a browser opens 6 connections per host, one holds
 * the event stream); results are handed over in batches, one render per batch rather than one per job.
 */
async function loadStrips(ids: string[], done: (batch: Record<string, Execution[]>) => void): Promise<void> {
  const queue = [...ids];
  let batch: Record<string, Execution[]> = {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    const ready = batch;
    batch = {};
    done(ready);
  };
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      let runs: Execution[] = [];
      try {
        runs = (await getJson<Page<Execution>>(`/api/v1/jobs/${enc(id)}/executions?limit=${STRIP}`)).data;
      } catch {
        // Shown as no runs; the row itself says what the job is.
      }
      batch[id] = runs;
      timer ??= setTimeout(flush, 50);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker(), worker()]);
  clearTimeout(timer);
  flush();
}

/** A strip (newest first) with `e` put in place: replaced when known, else added in front. */
function merge(runs: Execution[], e: Execution): Execution[] {
  const i = runs.findIndex((r) => r.id === e.id);
  if (i >= 0) return runs.map((r) => (r.id === e.id ? e : r));
  return [e, ...runs].slice(0, STRIP);
}
