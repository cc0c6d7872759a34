/** YAML text -> plain data, keeping where each value stood so errors can say FILE:LINE:COL. */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

export interface Position {
  line: number;
  col: number;
}

export interface YamlSource {
  value: unknown;
  /** Line and column of the value at a JSON pointer (of its key with `at: 'key'`), or of its nearest existing parent. */
  positionOf(path: string, at?: 'key' | 'value'): Position;
  /** Syntax errors, each with its position; `value` is undefined when there are any. */
  errors: Array<{ message: string; position: Position }>;
}

/** Parses YAML; syntax errors come back as data with positions, never thrown. */
export function parseYaml(text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const toPos = (offset: number): Position => lineCounter.linePos(offset);
  const errors = doc.errors.map((e) => ({
    message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
    position: toPos(e.pos[0]),
  }));
  const positionOf = (path: string, at: 'key' | 'value' = 'value'): Position => toPos(offsetOf(doc, path, at));
  return { value: errors.length ? undefined : doc.toJS({ maxAliasCount: 100 }), positionOf, errors };
}

function offsetOf(doc: Document, path: string, at: 'key' | 'value'): number {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  const parts = path === '' ? [] : path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  for (const [i, key] of parts.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
      if (!pair) return offset;
      // A missing or null value points at its key, which is where the author looks.
      const value = pair.value as Node | null;
      const keyNode = pair.key as Node;
      const wantKey = at === 'key' && i === parts.length - 1;
      offset = value?.range && !wantKey && !(isScalar(value) && value.value === null) ? value.range[0] : (keyNode.range?.[0] ?? offset);
      node = value;
    } else if (isSeq(node)) {
      const item = node.items[Number(key)] as Node | undefined;
      if (!item) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}
