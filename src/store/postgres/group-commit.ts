/**
 * Group commit: the single-statement writes made in one turn of the event loop, by any number of jobs,
 * go to the database as one text of statements, which PostgreSQL runs as one transaction with one
 * commit (one WAL flush) and answers in one round trip; each write resolves once that has committed.
 * A write made alone is sent as it is, with its parameters. The embedded store does the same with its
 * write-ahead log; without it, 200 jobs recording at once were ~7 times slower than on the embedded
 * store (docs/benchmarks.md).
 *
 * The store never puts two writes of one job in one group (a job's next write waits for its previous one
 * to commit), so the statements of a group do not depend on each other.
 */
import type { Pool, QueryResult, QueryResultRow } from 'pg';
import { isConnectionError } from './connection.js';
import type { Queryable } from './queryable.js';

/** Statements of one text at most; more go as further texts, on other connections. */
const MAX_GROUP = 500;

interface Pending {
  text: string;
  values: unknown[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit implements Queryable {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly pool: Pool,
    /** pg's escapeLiteral and prepareValue: parameters become literals in the text. */
    private readonly literal: (value: unknown) => string,
    /** An error to fail a statement with instead of sending it (connection.ts's writeFault). */
    private readonly fault: () => Error | undefined = () => undefined,
  ) {}

  /** Queues a statement that returns no rows; resolves once the group it went with has committed. */
  query<R extends QueryResultRow = QueryResultRow>(text: string, values: unknown[] = []): Promise<QueryResult<R>> {
    return new Promise<void>((resolve, reject) => {
      const refused = this.fault();
      if (refused) return reject(refused);
      this.queue.push({ text, values, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    }).then(() => ({ rows: [], rowCount: null, command: '', oid: 0, fields: [] }) as unknown as QueryResult<R>);
  }

  private flush(): void {
    this.scheduled = false;
    const all = this.queue;
    this.queue = [];
    for (let i = 0; i < all.length; i += MAX_GROUP) void this.send(all.slice(i, i + MAX_GROUP));
  }

  private async send(group: Pending[]): Promise<void> {
    if (group.length === 1) {
      const [one] = group as [Pending];
      await this.pool.query(one.text, one.values).then(() => one.resolve(), one.reject);
      return;
    }
    let text: string;
    try {
      text = group.map((p) => this.inline(p.text, p.values)).join(';\n');
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    try {
      // A simple query of several statements is one implicit transaction: all commit, or none.
      await this.pool.query(text);
      for (const p of group) p.resolve();
    } catch (err) {
      if (!isConnectionError(err)) {
        // One statement the database refused: the others must not fail with it. Each goes again by itself.
        await Promise.all(group.map((p) => this.pool.query(p.text, p.values).then(() => p.resolve(), p.reject)));
        return;
      }
      for (const p of group) p.reject(err);
    }
  }

  /** `text` with its `$n` parameters replaced by literals (our statements hold no `$` otherwise). */
  private inline(text: string, values: unknown[]): string {
    return text.replace(/\$(\d+)/g, (_, n: string) => {
      const i = Number(n) - 1;
      if (i < 0 || i >= values.length) throw new Error(`statement parameter $${n} has no value`);
      return this.literal(values[i]);
    });
  }
}
