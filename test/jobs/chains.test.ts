/** The chain graph: cycles found whole and only where there are some, unknown targets, who chains to a job. */
import { expect } from 'chai';
import fc from 'fast-check';
import { chainedFrom, describeCycle, findCycles, unknownTargets, type ChainNode } from '../../src/jobs/chains.js';

const graph = (edges: Record<string, ChainNode>) => new Map(Object.entries(edges));

/** Kahn's algorithm: true when the graph (known targets only) has a cycle. */
function hasCycle(g: Map<string, ChainNode>): boolean {
  const indegree = new Map([...g.keys()].map((k) => [k, 0]));
  const out = (id: string) => [...(g.get(id)!.on_success ?? []), ...(g.get(id)!.on_failure ?? [])].filter((t) => g.has(t));
  for (const id of g.keys()) for (const t of out(id)) indegree.set(t, indegree.get(t)! + 1);
  const ready = [...indegree].filter(([, n]) => n === 0).map(([k]) => k);
  let seen = 0;
  while (ready.length) {
    const id = ready.pop()!;
    seen++;
    for (const t of out(id)) {
      indegree.set(t, indegree.get(t)! - 1);
      if (indegree.get(t) === 0) ready.push(t);
    }
  }
  return seen < g.size;
}

describe('chains', function () {
  it('names a whole cycle, through on_success and on_failure alike', function () {
    const cycles = findCycles(graph({ a: { on_success: ['b'] }, b: { on_failure: ['c'] }, c: { on_success: ['a', 'd'] }, d: {} }));
    expect(cycles.map(describeCycle)).to.deep.equal(['a -> b -> c -> a']);
    expect(cycles[0]!.map((e) => e.field)).to.deep.equal(['on_success', 'on_failure', 'on_success']);
    expect(findCycles(graph({ self: { on_failure: ['self'] } })).map(describeCycle)).to.deep.equal(['self -> self']);
    expect(findCycles(graph({ a: { on_success: ['b', 'c'] }, b: { on_success: ['c'] }, c: {} }))).to.deep.equal([]);
  });

  it('lists unknown targets and the jobs chaining to one', function () {
    const g = graph({ a: { on_success: ['b', 'gone'] }, b: { on_failure: ['a'] }, c: { on_success: ['b'] } });
    expect(unknownTargets(g)).to.deep.equal([{ from: 'a', field: 'on_success', to: 'gone' }]);
    expect(chainedFrom(g, 'b')).to.deep.equal(['a', 'c']);
  });

  it('finds a cycle exactly when the graph has one, and each one it reports is a real cycle', function () {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const node = fc.record({ on_success: fc.subarray([...ids, 'x']), on_failure: fc.subarray([...ids, 'y']) });
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...ids), node), (edges) => {
        const g = graph(edges);
        const cycles = findCycles(g);
        expect(cycles.length > 0).to.equal(hasCycle(g));
        for (const c of cycles) {
          expect(c[0]!.from).to.equal(c.at(-1)!.to);
          for (let i = 0; i < c.length; i++) {
            if (i > 0) expect(c[i]!.from).to.equal(c[i - 1]!.to);
            expect(g.get(c[i]!.from)![c[i]!.field]).to.include(c[i]!.to);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('walks 100,000 chained jobs without overflowing the stack', function () {
    const g = new Map<string, ChainNode>();
    for (let i = 0; i < 100_000; i++) g.set(`j${i}`, { on_success: [`j${i + 1}`] });
    expect(findCycles(g)).to.deep.equal([]);
    g.set('j100000', { on_failure: ['j0'] });
    expect(findCycles(g)[0]!.length).to.equal(100_001);
  });
});
