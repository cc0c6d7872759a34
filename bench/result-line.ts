/**
 * The one line each bench prints last, which `bench/run-all.ts` collects:
 * `RESULT {"bench": ..., "figures": [...]}`. Each figure carries its target and whether it was met,
 * so the summary needs no knowledge of the benches.
 */

export const RESULT_PREFIX = 'RESULT ';

export interface Figure {
  /** What was measured, e.g. "API read: watchbell / bare Koa req/s". */
  what: string;
  value: number;
  unit: string;
  /** The target as text, e.g. ">= 0.70"; "report" when the issue asks only to report it. */
  target: string;
  /** true met, false missed, null when there is no target. */
  pass: boolean | null;
  /** The floor or the raw figures behind a ratio, and how the run was scaled down. */
  note?: string;
}

export interface BenchResult {
  bench: string;
  figures: Figure[];
}

export function printResult(result: BenchResult): void {
  console.log(RESULT_PREFIX + JSON.stringify(result));
}

/** The median of `xs` (any order); the mean of the two middle values for an even count. */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
