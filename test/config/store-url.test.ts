/** daemon.store: the PostgreSQL URL, its schema, its password from the environment, never shown. */
import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../src/config/load-config.js';
import { DEFAULT_PG_SCHEMA, hideStorePassword, maskStoreUrl, parseStoreUrl } from '../../src/config/store-url.js';

const FILE = '/etc/watchbell/watchbell.yaml';

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(text, FILE, { env });
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  return expect.fail('the config was accepted');
}

describe('daemon.store', () => {
  it('is null (the embedded data dir) when absent', () => {
    expect(parseConfig('version: 1\n', FILE, { env: {} }).daemon.store).to.equal(null);
  });

  it('takes a postgres:// URL, its password from ${ENV}', () => {
    const config = parseConfig('version: 1\ndaemon:\n  store: postgres://wb:${PGPW}@db:5432/jobs?schema=sched\n', FILE, { env: { PGPW: 'p@ss w' } });
    expect(config.daemon.store).to.equal('postgres://wb:p@ss w@db:5432/jobs?schema=sched');
  });

  it('refuses another scheme or a bad schema name, naming the field and never the password', () => {
    const text = problemsOf('version: 1\ndaemon:\n  store: mysql://wb:${PGPW}@db/jobs\n', { PGPW: 'hunter2' });
    expect(text).to.include('daemon.store: "mysql://wb:***@db/jobs" has the scheme mysql, not postgres; expected a postgres:// URL');
    expect(text).not.to.include('hunter2');
    const bad = problemsOf('version: 1\ndaemon:\n  store: postgres://db/jobs?schema=Robert%27);DROP\n');
    expect(bad).to.include("which is not a lower-case SQL name (a-z, 0-9, _)");
  });

  it('an override (--store, WATCHBELL_STORE) is checked like the file', () => {
    const text = (() => {
      try {
        parseConfig('version: 1\n', FILE, { env: {}, overrides: { store: 'http://x:secret@db/x' } });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    expect(text).to.include('daemon.store: "http://x:***@db/x" has the scheme http');
    expect(text).not.to.include('secret');
  });
});

describe('store URLs', () => {
  it('split into the driver URL and the schema, defaulting the schema', () => {
    expect(parseStoreUrl('postgres://u:pw@h:5432/d?schema=s1&sslmode=require')).to.deep.equal({
      connectionString: 'postgres://u:pw@h:5432/d?sslmode=require',
      schema: 's1',
      shown: 'postgres://u:***@h:5432/d?schema=s1&sslmode=require',
    });
    expect(parseStoreUrl('postgresql://h/d').schema).to.equal(DEFAULT_PG_SCHEMA);
  });

  it('are shown without the password, wherever it is', () => {
    expect(maskStoreUrl('postgres://u@h/d')).to.equal('postgres://u@h/d');
    expect(maskStoreUrl('postgres://h/d?password=pw')).to.equal('postgres://h/d?password=***');
    expect(maskStoreUrl('not a url with pw')).to.equal('***');
    expect(hideStorePassword('auth failed for pw%x pw%x', 'postgres://u:pw%25x@h/d')).to.equal('auth failed for *** ***');
  });
});
