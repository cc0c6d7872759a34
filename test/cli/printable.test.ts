/** printable() and table(): no text from the daemon can move the cursor or split a row of a CLI table. */
import { expect } from 'chai';
import { printable, table } from '../../src/cli/printable.js';

describe('CLI tables', function () {
  it('escapes control characters, line separators and bidirectional overrides', function () {
    expect(printable('0 0\r* * *')).to.equal('0 0\\r* * *');
    expect(printable('a\nb\tc')).to.equal('a\\nb\\tc');
    expect(printable('x\u2028y\u2029z')).to.equal('x\\u2028y\\u2029z');
    expect(printable('\u001b[2Jgone')).to.equal('\\u001b[2Jgone');
    expect(printable('\u0000\u007f\u0085')).to.equal('\\u0000\\u007f\\u0085');
    expect(printable('abc\u202egnp.exe')).to.equal('abc\\u202egnp.exe');
    expect(printable('plain text, ünïcode, 日本')).to.equal('plain text, ünïcode, 日本');
  });

  it('keeps every row on one line with its columns aligned, whatever the cells hold', function () {
    const text = table([['ID', 'SCHEDULE'], ['a', '0 0\r* * *'], ['bb', 'x\ny\u2028z']]);
    expect(text.split('\n')).to.deep.equal(['ID  SCHEDULE', 'a   0 0\\r* * *', 'bb  x\\ny\\u2028z', '']);
  });
});
