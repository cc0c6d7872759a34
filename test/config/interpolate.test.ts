import { expect } from 'chai';
import { interpolate } from '../../src/config/interpolate.js';

describe('interpolate', () => {
  const env = { NAME: 'world', EMPTY: '', PORT: '8080' };

  it('replaces ${VAR} in every string, deep in maps and lists', () => {
    const { value, errors } = interpolate({ a: 'hello ${NAME}', b: ['${PORT}', { c: 'x${NAME}y' }], n: 5, t: true, z: null }, env);
    expect(errors).to.deep.equal([]);
    expect(value).to.deep.equal({ a: 'hello world', b: ['8080', { c: 'xworldy' }], n: 5, t: true, z: null });
  });

  it('uses the default of ${VAR:-default} when the variable is unset or empty', () => {
    const { value, errors } = interpolate(['${UNSET:-fallback}', '${EMPTY:-fallback}', '${NAME:-fallback}', '${UNSET:-}', '${UNSET:-a:-b}'], env);
    expect(errors).to.deep.equal([]);
    expect(value).to.deep.equal(['fallback', 'fallback', 'world', '', 'a:-b']);
  });

  it('replaces a set-but-empty variable without a default by the empty string', () => {
    expect(interpolate('[${EMPTY}]', env).value).to.equal('[]');
  });

  it('turns $$ into a literal $ and leaves a lone $ alone', () => {
    const { value, errors } = interpolate(['$$', '$${NAME}', 'cost: 5$', '$NAME', '$$$$'], env);
    expect(errors).to.deep.equal([]);
    expect(value).to.deep.equal(['$', '${NAME}', 'cost: 5$', '$NAME', '$$']);
  });

  it('does not interpolate keys', () => {
    expect(interpolate({ '${NAME}': 'v' }, env).value).to.deep.equal({ '${NAME}': 'v' });
  });

  it('reports an unset variable by name, with the JSON path and label of its string', () => {
    const { value, errors } = interpolate({ jobs: { a: { command: ['echo', '${MISSING}'] } } }, env);
    expect(errors).to.deep.equal([
      { path: '/jobs/a/command/1', message: 'jobs.a.command.1: environment variable MISSING is not set; set it or write ${MISSING:-default}' },
    ]);
    expect(value).to.deep.equal({ jobs: { a: { command: ['echo', '${MISSING}'] } } });
  });

  it('reports a malformed reference', () => {
    expect(interpolate({ x: '${}' }, env).errors).to.deep.equal([
      { path: '/x', message: 'x: "${}" is not a valid variable reference; expected ${NAME} or ${NAME:-default} (write $$ for a literal $)' },
    ]);
    expect(interpolate({ x: '${1ABC}' }, env).errors.map((e) => e.path)).to.deep.equal(['/x']);
  });

  it('reports each problem of a string', () => {
    expect(interpolate({ x: '${A} ${B}' }, {}).errors.map((e) => e.message)).to.deep.equal([
      'x: environment variable A is not set; set it or write ${A:-default}',
      'x: environment variable B is not set; set it or write ${B:-default}',
    ]);
  });

  it('does not change its input', () => {
    const input = { a: ['${NAME}'] };
    interpolate(input, env);
    expect(input).to.deep.equal({ a: ['${NAME}'] });
  });
});
