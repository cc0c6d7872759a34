/**
 * `format: slack`: a short message in the shape of a Slack incoming webhook (`text`, plus Block Kit `blocks`).
 * Chat services with Slack-compatible webhooks (Mattermost, Rocket.Chat, Discord's `/slack` endpoint) show
 * `text`, so it reads well alone; Slack shows the blocks and uses `text` for the notification.
 */
import { facts, jobTitle, outcomeWords, outputTail, type Notification } from './notification.js';

export interface SlackText {
  type: 'mrkdwn';
  text: string;
}

export type SlackBlock =
  | { type: 'section'; text: SlackText }
  | { type: 'section'; fields: SlackText[] }
  | { type: 'context'; elements: SlackText[] };

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** Block Kit limits (api.slack.com/reference/block-kit/blocks): a section's text, one field. */
export const SLACK_LIMITS = { sectionText: 3000, fieldText: 2000, fields: 10, contextElements: 10 } as const;

const ICONS = { failure: ':x:', success: ':white_check_mark:', recovered: ':large_green_circle:', skipped: ':fast_forward:' } as const;

/** Lines of output in a message: enough to see why, short enough to read in a channel. */
const TAIL_LINES = 10;

/** The message for a notification. */
export function slackMessage(n: Notification): SlackMessage {
  const e = n.execution;
  const icon = n.event === 'recovered' || n.event === 'skipped' ? ICONS[n.event] : e.status === 'success' ? ICONS.success : ICONS.failure;
  const title = escape(jobTitle(n.job));
  const named = n.links ? `<${n.links.log}|${title}>` : title;
  const what = `${icon} *${named}* ${outcomeWords(n)}`;
  const error = e.error ? `: ${escape(oneLine(e.error))}` : '';
  const blocks: SlackBlock[] = [
    { type: 'section', text: mrkdwn(cut(`${what}${error}`, SLACK_LIMITS.sectionText)) },
    { type: 'section', fields: facts(n).map(([label, value]) => mrkdwn(cut(`*${label}*\n${escape(value)}`, SLACK_LIMITS.fieldText))) },
  ];
  const tail = outputTail(e.output, TAIL_LINES);
  if (tail) {
    // A code block ends at the next ```, so the output must not contain one; the end of a long output is the useful part.
    const code = escape(tail).replace(/```/g, '`\u200b`\u200b`');
    // Fences on lines of their own: output ending in a backtick would otherwise run into the closing one.
    const room = SLACK_LIMITS.sectionText - '*Last lines of output*\n```\n\n```'.length;
    blocks.push({ type: 'section', text: mrkdwn(`*Last lines of output*\n\`\`\`\n${code.length > room ? `…${code.slice(-(room - 1))}` : code}\n\`\`\``) });
  }
  const context = [`execution ${n.links ? `<${n.links.execution}|${e.id}>` : e.id}`];
  if (n.links) context.push(`<${n.links.log}|full log>`);
  blocks.push({ type: 'context', elements: [mrkdwn(context.join(' · '))] });
  const link = n.links ? ` <${n.links.log}|log>` : '';
  return { text: cut(`${icon} ${title} ${outcomeWords(n)}${error} (${facts(n).slice(0, 3).map(([l, v]) => `${l.toLowerCase()} ${v}`).join(', ')})${link}`, 3000), blocks };
}

function mrkdwn(text: string): SlackText {
  return { type: 'mrkdwn', text };
}

/** Slack reads `&`, `<` and `>` as markup: text from jobs must have them escaped. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
