/** The outputs file parser: what steps may write to $WATCHBELL_OUTPUT, and that no bytes make it throw. */
import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_OUTPUTS_BYTES, OUTPUT_KEY_RE, parseOutputs } from '../../src/run/step-outputs.js';

const parse = (text: string) => parseOutputs(Buffer.from(text));

describe('parseOutputs', function () {
  this.timeout(30_000);
  it('reads key=value lines and key<<DELIM blocks, a later value of a key winning', function () {
    expect(parse('a=1\nb=x=y\n\nc<<EOF\nline 1\n\nline 3\nEOF\na=2\r\nempty=\n')).to.deep.equal({
      ok: true, outputs: { a: '2', b: 'x=y', c: 'line 1\n\nline 3', empty: '' },
    });
    expect(parse('')).to.deep.equal({ ok: true, outputs: {} });
  });

  it('says what is wrong, with the line', function () {
    expect(parse('ok=1\nno equals here\n')).to.deep.equal({ ok: false, error: 'outputs file line 2: "no equals here" is not key=value or key<<DELIMITER' });
    expect(parse('9lives=x')).to.deep.equal({ ok: false, error: 'outputs file line 1: key "9lives" is invalid; expected letters, digits and _, not starting with a digit, at most 128 characters' });
    expect(parse('v<<END\nnever closed\n')).to.deep.equal({ ok: false, error: 'outputs file line 1: v<<END is never closed: no line "END" follows' });
    expect(parse('v<<\n')).to.deep.equal({ ok: false, error: 'outputs file line 1: "v<<" needs a delimiter, as in v<<EOF' });
    expect(parseOutputs(Buffer.from([0x61, 0x3d, 0xff]))).to.deep.equal({ ok: false, error: 'outputs file is not valid UTF-8' });
    expect(parse('a=x\0y')).to.deep.equal({ ok: false, error: 'outputs file holds a NUL byte, which no environment variable can' });
    expect(parseOutputs(Buffer.alloc(MAX_OUTPUTS_BYTES + 1, 0x61))).to.deep.equal({ ok: false, error: `outputs file is ${MAX_OUTPUTS_BYTES + 1} bytes, more than the ${MAX_OUTPUTS_BYTES} (64 KiB) a step may write` });
  });

  it('takes any bytes: outputs with valid keys and NUL-free values, or an error, never a throw', function () {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.string({ unit: 'binary' }).map((s) => Buffer.from(s))), (bytes) => {
        const r = parseOutputs(bytes);
        if (!r.ok) return typeof r.error === 'string' && r.error.length > 0;
        return Object.entries(r.outputs).every(([k, v]) => OUTPUT_KEY_RE.test(k) && !v.includes('\0'));
      }),
      { numRuns: 1000 },
    );
  });

  it('gives back what was written as key=value lines and heredocs', function () {
    const key = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/);
    const line = fc.string({ unit: 'grapheme' }).filter((s) => !/[\n\r\0]/.test(s));
    fc.assert(
      fc.property(fc.dictionary(key, fc.oneof(line, fc.array(line, { maxLength: 4 }).map((l) => l.join('\n')))), (outputs) => {
        let text = '';
        for (const [k, v] of Object.entries(outputs)) {
          text += v.includes('\n') || v.includes('<<') || v === 'EOF' ? `${k}<<WB_END_7f3\n${v}\nWB_END_7f3\n` : `${k}=${v}\n`;
        }
        const r = parse(text);
        expect(r).to.deep.equal({ ok: true, outputs });
      }),
      { numRuns: 1000 },
    );
  });
});
