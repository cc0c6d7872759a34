// The last runs' durations as bars coloured by outcome: plain SVG, no chart library for 50 bars.
import type { Execution } from '../api';
import { seconds } from '../time';

export function DurationChart({ jobId, executions }: { jobId: string; executions: Execution[] }) {
  const done = executions.filter((e) => e.duration !== null).reverse();
  if (done.length === 0) return <p class="muted">No finished runs yet.</p>;
  const max = Math.max(...done.map((e) => e.duration!), 0.001);
  const w = 600;
  const h = 120;
  const bar = w / Math.max(done.length, 10);
  return (
    <svg class="chart" viewBox={`0 0 ${w} ${h + 14}`} role="group" aria-label={`durations of ${done.length} runs, longest ${seconds(max)}`}>
      <text x="0" y="10" class="axis">
        {seconds(max)}
      </text>
      {done.map((e, i) => {
        const bh = Math.max(2, (e.duration! / max) * (h - 14));
        return (
          <a key={e.id} href={`/ui/jobs/${encodeURIComponent(jobId)}/executions/${e.id}`} aria-label={`${e.status}, ${seconds(e.duration)}`}>
            <rect x={i * bar + 1} y={h + 14 - bh} width={Math.max(1, bar - 2)} height={bh} class={`bar s-${e.status}`}>
              <title>{`${e.status} · ${seconds(e.duration)} · ${e.started_at ?? ''}`}</title>
            </rect>
          </a>
        );
      })}
    </svg>
  );
}
