/** Checks a message against the shape of a Slack incoming webhook with Block Kit blocks, and Slack's documented limits. */
import { expect } from 'chai';

/** Fails unless `message` is `{text, blocks}` as Slack accepts it (api.slack.com/reference/block-kit/blocks). */
export function expectSlackShape(message: unknown): void {
  expect(message).to.be.an('object');
  const m = message as { text: unknown; blocks: unknown };
  expect(Object.keys(m).sort()).to.deep.equal(['blocks', 'text']);
  expect(m.text).to.be.a('string').with.length.within(1, 4000);
  expect(m.blocks).to.be.an('array').with.length.within(1, 50);
  const textObject = (t: unknown, max: number) => {
    expect(t).to.be.an('object');
    const o = t as { type: unknown; text: unknown };
    expect(Object.keys(o).sort()).to.deep.equal(['text', 'type']);
    expect(o.type).to.be.oneOf(['mrkdwn', 'plain_text']);
    expect(o.text).to.be.a('string').with.length.within(1, max);
  };
  for (const block of m.blocks as Array<Record<string, unknown>>) {
    expect(block.type).to.be.oneOf(['section', 'context']);
    if (block.type === 'section') {
      expect('text' in block || 'fields' in block, 'a section has text or fields').to.equal(true);
      if ('text' in block) textObject(block.text, 3000);
      if ('fields' in block) {
        expect(block.fields).to.be.an('array').with.length.within(1, 10);
        for (const f of block.fields as unknown[]) textObject(f, 2000);
      }
    } else {
      expect(block.elements).to.be.an('array').with.length.within(1, 10);
      for (const e of block.elements as unknown[]) textObject(e, 3000);
    }
  }
}
