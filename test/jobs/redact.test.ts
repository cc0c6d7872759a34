import { expect } from 'chai';
import { redactSecrets } from '../../src/jobs/redact.js';

describe('redactSecrets', () => {
  const secret = 's3cr/et"value+1';

  it('masks a secret as written, URL-encoded and JSON-escaped', () => {
    expect(redactSecrets(`got ${secret} and ${encodeURIComponent(secret)} and ${JSON.stringify(secret)}`, [secret])).to.equal('got ****** and ****** and "******"');
  });

  it('masks the start of a secret where a message was cut, with or without an ellipsis', () => {
    expect(redactSecrets(`answered 401: bad key ${secret.slice(0, 9)}…`, [secret])).to.equal('answered 401: bad key ******…');
    expect(redactSecrets(`bad key ${secret.slice(0, 7)}`, [secret])).to.equal('bad key ******');
    // Five characters are too few to tell a cut secret from a word.
    expect(redactSecrets('bad key s3cr/', [secret])).to.equal('bad key s3cr/');
  });

  it('leaves short values and texts without secrets alone', () => {
    expect(redactSecrets('exit 1 after 1s', ['1', 'abc'])).to.equal('exit 1 after 1s');
    expect(redactSecrets('nothing here', [secret])).to.equal('nothing here');
  });

  it('stays quick with long values', () => {
    const long = 'x'.repeat(65536);
    const started = performance.now();
    expect(redactSecrets(`spawn failed: ${'x'.repeat(300)}`, Array.from({ length: 200 }, (_, i) => `${long}${i}`))).to.equal('spawn failed: ******');
    expect(performance.now() - started).to.be.below(2000);
  });
});
