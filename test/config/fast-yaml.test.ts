import { expect } from 'chai';
import fc from 'fast-check';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { blockKeyPositions, fastYamlValue } from '../../src/config/fast-yaml.js';
import { parsePositioned, parseYaml } from '../../src/config/yaml-source.js';

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

/** Every JSON pointer to a mapping key in a plain value. */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  const out: string[] = [];
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  for (const [k, v] of entries) {
    const path = `${prefix}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!Array.isArray(value)) out.push(path);
    out.push(...keyPaths(v, path));
  }
  return out;
}

/** Checks the fast reading against `yaml`'s: same value when it answers, same place for every key it lists. */
function agree(text: string): { fast: boolean } {
  const fast = fastYamlValue(text);
  const slow = parsePositioned(text);
  if (fast) expect(fast.value, text).to.deep.equal(slow.value);
  if (slow.errors.length === 0) {
    const keys = blockKeyPositions(text);
    for (const path of keyPaths(slow.value)) {
      const p = keys.get(path);
      if (p) expect(p, `${path} in\n${text}`).to.deep.equal(slow.positionOf(path, 'key'));
    }
  }
  return { fast: fast !== undefined };
}

describe('fast YAML path (js-yaml, then `yaml` for positions)', () => {
  it('reads the shipped configs as `yaml` does, and places every job key as `yaml` does', async () => {
    for (const file of ['config/watchbell.yaml', 'deploy/docker/watchbell.yaml']) {
      const text = await readFile(root(file), 'utf8');
      expect(agree(text).fast, file).to.equal(true);
      const keys = blockKeyPositions(text);
      for (const id of Object.keys((parse(text) as { jobs: object }).jobs)) expect(keys.has(`/jobs/${id}`), `${file} ${id}`).to.equal(true);
    }
  });

  it('agrees with `yaml` on every YAML block of docs/config.md', async () => {
    const md = await readFile(root('docs/config.md'), 'utf8');
    const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).to.be.at.least(3);
    for (const text of blocks) agree(text);
  });

  it('leaves to `yaml` what js-yaml could read differently: tags, aliases, duplicate keys, syntax errors', () => {
    expect(fastYamlValue('a: !!float 1\n')).to.equal(undefined);
    expect(fastYamlValue('a: !custom x\n')).to.equal(undefined);
    expect(fastYamlValue('a: &x {b: 1}\nc: *x\n')).to.equal(undefined);
    expect(fastYamlValue('a: 1\na: 2\n')).to.equal(undefined);
    expect(fastYamlValue('a: [1\n')).to.equal(undefined);
    expect(fastYamlValue('a: 1\nb: [x, {c: "d"}]\n')).to.deep.equal({ value: { a: 1, b: ['x', { c: 'd' }] } });
    // The positioned path still reports the mistakes, with their places.
    expect(parseYaml('a: 1\na: 2\n').errors).to.deep.equal([{ message: 'Map keys must be unique', position: { line: 2, col: 1 } }]);
  });

  it('places keys past block scalars, flow collections and sequences, and leaves out keys it cannot place', () => {
    const text = [
      'jobs:', //                                   1
      '  a:', //                                    2
      '    command: |', //                          3
      '      x: not a key', //                      4
      '    tags: [one,', //                         5
      '      "two: three"]', //                     6
      '    environment:', //                        7
      '      "B C": d', //                          8
      '  "b/c":', //                                9
      '    list:', //                               10
      '      - key: v', //                          11
      'after: 1', //                                12
    ].join('\n');
    const keys = blockKeyPositions(text);
    expect(Object.fromEntries(keys)).to.deep.equal({
      '/jobs': { line: 1, col: 1 },
      '/jobs/a': { line: 2, col: 3 },
      '/jobs/a/command': { line: 3, col: 5 },
      '/jobs/a/tags': { line: 5, col: 5 },
      '/jobs/a/environment': { line: 7, col: 5 },
      '/jobs/a/environment/B C': { line: 8, col: 7 },
      '/jobs/b~1c': { line: 9, col: 3 },
      '/jobs/b~1c/list': { line: 10, col: 5 },
      '/after': { line: 12, col: 1 },
    });
    agree(text);
  });

  it('does not give a key nested under a key it cannot read to that key\'s parent', () => {
    // Found by the property below (seed 122656879): `x` under `a 0` was placed as the top-level `x`.
    const text = 'a 0:\n  x: []\nx: "0o14"\n';
    expect(blockKeyPositions(text).get('/x')).to.deep.equal({ line: 3, col: 1 });
    agree(text);
  });

  it('agrees with `yaml` on 300 generated documents in block and flow styles', function () {
    this.timeout(30_000);
    const key = fc.stringMatching(/^[a-z][a-z0-9_. -]{0,8}$/).filter((k) => !k.endsWith(' ') && !k.includes(' .'));
    const scalar = fc.oneof(
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string({ maxLength: 12 }),
      fc.constantFrom('0o14', '1_000', '0x1F', 'yes', 'on', '~', '12:30', '2024-01-01', 'a: b', '# c', '- x', '[x]', "it's", 'x #y'),
    );
    const tree = fc.letrec((tie) => ({
      node: fc.oneof({ depthSize: 'small' }, scalar, tie('map'), tie('list')),
      map: fc.dictionary(key, tie('node'), { maxKeys: 4 }),
      list: fc.array(tie('node'), { maxLength: 3 }),
    }));
    let fastCount = 0;
    fc.assert(
      fc.property(tree.map, fc.constantFrom(0, 2, 4), fc.constantFrom('PLAIN', 'QUOTE_DOUBLE', 'BLOCK_LITERAL'), (value, flowLevel, defaultStringType) => {
        const text = stringify(value, { indent: 2, flowCollectionPadding: false, defaultStringType: defaultStringType as 'PLAIN', ...(flowLevel ? { collectionStyle: 'any' } : {}) });
        if (agree(text).fast) fastCount++;
      }),
      { numRuns: 300 },
    );
    // Most generated documents must take the fast path, or this test checks nothing of it.
    expect(fastCount).to.be.above(200);
  });
});
