/** YAML text -> plain data, keeping where each value stood so errors can say FILE:LINE:COL. */
import { blockKeyPositions, fastYamlValue } from './fast-yaml.js';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { Document, Node, Pair, YAMLMap } from 'yaml';

let yamlModule: typeof Yaml | undefined;

/**
 * The `yaml` package, loaded at its first use: most configs are read by js-yaml alone (fast-yaml.ts), and it
 * cost ~30 ms and 2-6 MiB at every start. Required (it is CommonJS for Node, the same instance an import gets).
 */
export function yaml(): typeof Yaml {
  return (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml);
}

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

/**
 * Parses YAML; syntax errors come back as data with positions, never thrown. A file js-yaml reads
 * the same way is read by it (fast-yaml.ts); the positioned `yaml` document is built only once a
 * position that the key scan does not know is asked for.
 */
export function parseYaml(text: string): YamlSource {
  const fast = fastYamlValue(text);
  if (!fast) return parsePositioned(text);
  let keys: Map<string, Position> | undefined;
  let positioned: YamlSource | undefined;
  return {
    value: fast.value,
    errors: [],
    positionOf(path, at = 'value') {
      if (at === 'key') {
        keys ??= blockKeyPositions(text);
        const known = keys.get(path);
        if (known) return known;
      }
      positioned ??= parsePositioned(text);
      return positioned.positionOf(path, at);
    },
  };
}

/** Parses YAML with the `yaml` package, which knows where every node stood. */
export function parsePositioned(text: string): YamlSource {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  // Unique keys are checked below, in linear time: the parser's own check is quadratic (a config of
  // 20,000 jobs spent 3 s in it).
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const toPos = (offset: number): Position => lineCounter.linePos(offset);
  const errors = doc.errors.map((e) => ({
    message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''),
    position: toPos(e.pos[0]),
  }));
  const duplicate = errors.length ? undefined : firstDuplicateKey(doc.contents);
  if (duplicate) errors.push({ message: 'Map keys must be unique', position: toPos(duplicate.offset) });
  const positionOf = (path: string, at: 'key' | 'value' = 'value'): Position => toPos(offsetOf(doc, path, at));
  return { value: errors.length ? undefined : doc.toJS({ maxAliasCount: 100 }), positionOf, errors };
}

/** The first key given twice in one mapping (compared as the strings they become), with its offset. */
export function firstDuplicateKey(root: unknown): { key: string; offset: number } | undefined {
  const { isMap, isScalar, isSeq } = yaml();
  const stack: unknown[] = [root];
  while (stack.length) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const k = pair.key;
        if (isScalar(k)) {
          const key = String(k.value);
          if (seen.has(key)) return { key, offset: k.range?.[0] ?? 0 };
          seen.add(key);
        }
        stack.push(pair.key, pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return undefined;
}

/** Per map node, its pairs by key: a config of 100,000 jobs would otherwise scan the jobs map once per job. */
const pairIndexes = new WeakMap<YAMLMap, Map<string, Pair>>();

function pairByKey(map: YAMLMap, key: string): Pair | undefined {
  let index = pairIndexes.get(map);
  if (!index) {
    const { isPair, isScalar } = yaml();
    index = new Map();
    for (const p of map.items) {
      // The first of duplicate keys, as a linear find would (duplicates are a syntax error anyway).
      if (isPair(p) && isScalar(p.key) && !index.has(String(p.key.value))) index.set(String(p.key.value), p);
    }
    pairIndexes.set(map, index);
  }
  return index.get(key);
}

function offsetOf(doc: Document, path: string, at: 'key' | 'value'): number {
  const { isMap, isScalar, isSeq } = yaml();
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  const parts = path === '' ? [] : path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  for (const [i, key] of parts.entries()) {
    if (isMap(node)) {
      const pair = pairByKey(node, key);
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
