/** The graph of job chains (`on_success`, `on_failure`): cycles, unknown targets, and who chains to a job. */

export interface ChainNode {
  on_success?: readonly string[];
  on_failure?: readonly string[];
}

export type ChainField = 'on_success' | 'on_failure';

/** One arrow of the graph: `from` runs `to` when it ends as `field` says. */
export interface ChainEdge {
  from: string;
  field: ChainField;
  to: string;
}

function edgesOf(id: string, node: ChainNode | undefined): ChainEdge[] {
  if (!node) return [];
  const out: ChainEdge[] = [];
  for (const field of ['on_success', 'on_failure'] as const) for (const to of node[field] ?? []) out.push({ from: id, field, to });
  return out;
}

/**
 * Every cycle found by one depth-first walk of the graph (each as its arrows, in order), iterative so 100,000
 * chained jobs cannot overflow the stack. A graph without cycles gives [].
 */
export function findCycles(jobs: ReadonlyMap<string, ChainNode>): ChainEdge[][] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: ChainEdge[][] = [];
  for (const root of jobs.keys()) {
    if (state.has(root)) continue;
    const stack: Array<{ id: string; edges: ChainEdge[]; i: number; via: ChainEdge | null }> = [{ id: root, edges: edgesOf(root, jobs.get(root)), i: 0, via: null }];
    state.set(root, 'open');
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i >= top.edges.length) {
        state.set(top.id, 'done');
        stack.pop();
        continue;
      }
      const e = top.edges[top.i++]!;
      if (!jobs.has(e.to)) continue;
      const seen = state.get(e.to);
      if (seen === undefined) {
        state.set(e.to, 'open');
        stack.push({ id: e.to, edges: edgesOf(e.to, jobs.get(e.to)), i: 0, via: e });
      } else if (seen === 'open') {
        const k = stack.findIndex((f) => f.id === e.to);
        cycles.push([...stack.slice(k + 1).map((f) => f.via!), e]);
      }
    }
  }
  return cycles;
}

/** `a -> b -> c -> a`, for messages. */
export function describeCycle(cycle: readonly ChainEdge[]): string {
  return [cycle[0]!.from, ...cycle.map((e) => e.to)].join(' -> ');
}

/** Arrows whose target is not a job of `jobs`. */
export function unknownTargets(jobs: ReadonlyMap<string, ChainNode>): ChainEdge[] {
  const out: ChainEdge[] = [];
  for (const [id, node] of jobs) for (const e of edgesOf(id, node)) if (!jobs.has(e.to)) out.push(e);
  return out;
}

/** Ids of the jobs whose chains name `target`, in id order. */
export function chainedFrom(jobs: ReadonlyMap<string, ChainNode>, target: string): string[] {
  const out: string[] = [];
  for (const [id, node] of jobs) if (id !== target && edgesOf(id, node).some((e) => e.to === target)) out.push(id);
  return out.sort();
}
