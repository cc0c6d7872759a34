/** One page of jobs in an order other than id (`GET /jobs?sort=`), picked without sorting every job. */

/**
 * The page [offset, offset + limit) of `candidates` (positions in id order) ordered by `keys[position]`
 * ascending, ties by position. Keys may be Infinity (sorted last). A page near the front, the common case,
 * keeps only offset + limit positions in a heap, O(n log k), instead of sorting all n: 100,000 positions
 * sort in ~25 ms, too slow for a request that dashboards poll.
 */
export function pageByKey(candidates: ArrayLike<number>, keys: Float64Array, offset: number, limit: number): number[] {
  const n = candidates.length;
  const k = Math.min(n, offset + limit);
  if (k === 0 || offset >= n) return [];
  const before = (a: number, b: number) => keys[a]! < keys[b]! || (keys[a] === keys[b] && a < b);
  if (k > n / 4) {
    const all = Uint32Array.from(candidates);
    all.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    return Array.from(all.subarray(offset, k));
  }
  // A max-heap of the k first positions seen so far: its root is the one a better candidate replaces.
  const heap = new Uint32Array(k);
  let size = 0;
  const down = (from: number) => {
    let i = from;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < size && before(heap[top]!, heap[l]!)) top = l;
      if (r < size && before(heap[top]!, heap[r]!)) top = r;
      if (top === i) return;
      [heap[i], heap[top]] = [heap[top]!, heap[i]!];
      i = top;
    }
  };
  for (let c = 0; c < n; c++) {
    const p = candidates[c]!;
    if (size < k) {
      heap[size] = p;
      for (let i = size++; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!before(heap[parent]!, heap[i]!)) break;
        [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
        i = parent;
      }
    } else if (before(p, heap[0]!)) {
      heap[0] = p;
      down(0);
    }
  }
  heap.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  return Array.from(heap.subarray(offset, k));
}
