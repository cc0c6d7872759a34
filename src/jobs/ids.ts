/** Job ids and execution ids. */
import { randomBytes } from 'node:crypto';

/** Ids a user may give: lowercase, digits, `_ . -`, 1..63 characters, never `..` (so never a path trick). */
export const JOB_ID_PATTERN = '^(?!.*\\.\\.)[a-z0-9][a-z0-9_.-]{0,62}$';
const JOB_ID_RE = new RegExp(JOB_ID_PATTERN);

/** True when `id` is a valid job id. */
export function isValidJobId(id: unknown): id is string {
  return typeof id === 'string' && JOB_ID_RE.test(id);
}

// Crockford base32, lowercase so generated ids match JOB_ID_PATTERN.
const B32 = '0123456789abcdefghjkmnpqrstvwxyz';

/** Random bytes drawn 4 KiB at a time: one randomBytes() call per id cost more than the rest of recording a skipped run. */
const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function randomBase32(n: number): string {
  if (poolOffset + n > pool.length) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  let out = '';
  for (let i = 0; i < n; i++) out += B32[pool[poolOffset + i]! & 31];
  poolOffset += n;
  return out;
}

/** A generated job id: `job-` + 10 random base32 characters. */
export function newJobId(): string {
  return `job-${randomBase32(10)}`;
}

let lastTime = 0;
let seq = 0;

/**
 * A time-ordered execution id: `exec-` + 10 base32 characters of milliseconds, 4 of a
 * per-millisecond sequence (so ids made in the same millisecond still sort by creation),
 * and 6 random ones (so two daemons never collide).
 */
export function newExecutionId(now: number = Date.now()): string {
  if (now <= lastTime) {
    seq++;
    // The 4-character sequence holds 32^4 ids; past that, borrow the next millisecond so ids still sort.
    if (seq >= 32 ** 4) {
      lastTime++;
      seq = 0;
    }
    now = lastTime;
  } else {
    lastTime = now;
    seq = 0;
  }
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = B32[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let s = '';
  let q = seq;
  for (let i = 0; i < 4; i++) {
    s = B32[q % 32] + s;
    q = Math.floor(q / 32);
  }
  return `exec-${time}${s}${randomBase32(6)}`;
}

/** True when `id` has the shape of an execution id (no path tricks). */
export function isValidExecutionId(id: unknown): id is string {
  return typeof id === 'string' && /^exec-[0-9a-z]{20}$/.test(id);
}
