/** schema/watchbell.schema.json is generated from the validator's own schema: it must not drift. */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { publishedConfigSchema } from '../../src/config/config-schema.js';
import { ROOT } from '../helpers/daemon-process.js';

describe('published config schema', function () {
  it('equals what the validator uses (regenerate with `npm run schema`)', function () {
    const committed = JSON.parse(readFileSync(join(ROOT, 'schema/watchbell.schema.json'), 'utf8'));
    expect(committed).to.deep.equal(publishedConfigSchema());
  });

  it('is referenced by the example config for yaml-language-server', function () {
    const example = readFileSync(join(ROOT, 'config/watchbell.yaml'), 'utf8');
    expect(example.split('\n')[0]).to.equal('# yaml-language-server: $schema=../schema/watchbell.schema.json');
  });
});
