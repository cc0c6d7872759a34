// Small pieces every page uses: relative times, status badges, the strip of recent runs, loading of data.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Execution, ExecutionStatus } from './api';
import { exact, relative, seconds } from './time';

/** Re-renders every `ms` so relative times stay true. */
export function useTick(ms = 15_000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** "3 min ago", with the exact time (in `timeZone` when given) on hover and for screen readers. */
export function RelTime({ iso, timeZone, prefix }: { iso: string | null; timeZone?: string; prefix?: string }) {
  useTick();
  if (!iso) return <span class="muted">–</span>;
  const title = timeZone ? `${exact(iso)} (${exact(iso, timeZone)} in ${timeZone})` : exact(iso);
  return (
    <time dateTime={iso} title={title}>
      {prefix}
      {relative(iso)}
    </time>
  );
}

const LABELS: Record<string, string> = {
  queued: 'queued',
  in_progress: 'running',
  success: 'success',
  failure: 'failure',
  cancelled: 'cancelled',
  skipped: 'skipped',
  active: 'active',
  paused: 'paused',
  completed: 'completed',
};

/** A coloured word for a job's or an execution's status. */
export function Badge({ status }: { status: string }) {
  return <span class={`badge s-${status}`}>{LABELS[status] ?? status}</span>;
}

/** The last runs as coloured cells, oldest on the left; each links to its execution. */
export function Strip({ jobId, executions }: { jobId: string; executions: Execution[] | undefined }) {
  if (!executions) return <span class="strip muted" aria-label="loading recent runs" />;
  if (executions.length === 0) return <span class="muted">no runs yet</span>;
  const oldestFirst = [...executions].reverse();
  const counts = summary(executions);
  return (
    <span class="strip" role="group" aria-label={`last ${executions.length} runs: ${counts}`}>
      {oldestFirst.map((e) => (
        <a
          key={e.id}
          class={`cell s-${e.status}`}
          href={`/ui/jobs/${encodeURIComponent(jobId)}/executions/${e.id}`}
          title={`${LABELS[e.status]} · ${e.started_at ? exact(e.started_at) : 'not started'} · ${seconds(e.duration)}`}
          aria-label={`${LABELS[e.status]} run ${e.started_at ? relative(e.started_at) : ''}`}
        />
      ))}
    </span>
  );
}

function summary(executions: Execution[]): string {
  const by = new Map<ExecutionStatus, number>();
  for (const e of executions) by.set(e.status, (by.get(e.status) ?? 0) + 1);
  return [...by].map(([s, n]) => `${n} ${LABELS[s]}`).join(', ');
}

/** Loads with `load` when `deps` change; `reload()` loads again (after an event). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: Error | undefined; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: Error }>({});
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (data) => live && setState({ data }),
      (error: Error) => live && setState((s) => ({ data: s.data, error })),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return { data: state.data, error: state.error, reload: () => setN((x) => x + 1) };
}

/** An error answer, said plainly. */
export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  );
}

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}
