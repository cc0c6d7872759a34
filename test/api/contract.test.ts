/**
 * The API's contract at its edges (black-box, one daemon): 405 with Allow, the trailing-slash rule the
 * OpenAPI document states, /tail past a skipped overlap, a running execution's attempt and output so far,
 * a completed one-shot job not revived by PUT, and `GET /jobs?sort=`.
 */
import { expect } from 'chai';
import { openApiDocument } from '../../src/api/openapi.js';
import { removeDir, startWithJobs, type DaemonProcess } from '../helpers/daemon-process.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- walking JSON answers */
type Json = Record<string, any>;

describe('API contract (black-box)', function () {
  let d: DaemonProcess;

  before(async function () {
    d = await startWithJobs([
      // Fires every second and forbids overlap: while one run sleeps, the next slots are recorded skipped.
      '  busy:',
      '    schedule: "* * * * * *"',
      '    concurrency: forbid',
      '    command: echo started; echo more >&2; exec sleep 60',
      '',
    ].join('\n'));
  });

  after(async function () {
    await d.stop();
    await removeDir(d.dir);
  });

  /** Reads a followed log until `text` has been written (the event, not a sleep), then lets go. */
  async function untilLogged(path: string, text: string): Promise<void> {
    const gone = new AbortController();
    const res = await fetch(`${d.url}${path}?follow=true`, { signal: gone.signal });
    let seen = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      seen += decoder.decode(chunk, { stream: true });
      if (seen.includes(text)) break;
    }
    gone.abort();
    expect(seen).to.include(text);
  }

  it('answers 405 with an Allow header naming the methods the path takes', async function () {
    const job = await d.api('PATCH', '/api/v1/jobs/busy');
    expect(job.status).to.equal(405);
    expect(job.headers.get('allow')).to.equal('HEAD, GET, PUT, DELETE');
    expect(job.body.error.code).to.equal('METHOD_NOT_ALLOWED');
    expect(job.body.error.message).to.equal('method PATCH not allowed on /api/v1/jobs/busy; allowed: HEAD, GET, PUT, DELETE');
    const list = await d.api('DELETE', '/api/v1/jobs');
    expect(list.status).to.equal(405);
    expect(list.headers.get('allow')).to.equal('HEAD, GET, POST');
    const health = await d.api('POST', '/health');
    expect(health.status).to.equal(405);
    expect(health.headers.get('allow')).to.equal('HEAD, GET');
    expect(health.body.error.code).to.equal('METHOD_NOT_ALLOWED');
  });

  it('declares 405, servers and the trailing-slash rule in the OpenAPI document, and keeps to that rule', async function () {
    const doc = openApiDocument();
    expect(doc.servers).to.be.an('array').that.is.not.empty;
    expect(doc.servers[0].url).to.equal('/');
    expect(doc.info.description).to.include('trailing slash');
    expect(doc.components.responses.MethodNotAllowed.headers.Allow).to.be.an('object');
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      for (const method of ['get', 'put', 'post', 'delete']) {
        if (item[method]) expect(Object.keys(item[method].responses), `${method} ${path}`).to.include('405');
      }
    }
    // Every GET path, spelt with a trailing slash, is answered as without one.
    const eid = (await d.api('GET', '/api/v1/jobs/busy/executions?limit=1')).body.data[0]?.id ?? 'exec-00000000000000000000';
    for (const [template, item] of Object.entries<Json>(doc.paths)) {
      // The event stream never ends, so it cannot be compared whole; test/api/live-events.test.ts covers it.
      if (!item.get || template === '/health' || template === '/metrics' || template === '/api/v1/events') continue;
      const path = template.replace('{id}', 'busy').replace('{eid}', eid);
      const query = template === '/api/v1/schedule/next' ? '?schedule=%40daily' : '';
      const plain = await d.api('GET', `${path}${query}`);
      const slashed = await d.api('GET', `${path}/${query}`);
      expect(slashed.status, `GET ${path}/`).to.equal(plain.status);
      expect(slashed.body?.error?.code, `GET ${path}/`).not.to.equal('ROUTE_NOT_FOUND');
    }
  });

  it('shows a running execution\'s attempt so far and its output so far; /tail shows it past skipped overlaps', async function () {
    const started = await d.waitFor((l) => l.event === 'execution.started' && l.job_id === 'busy');
    const eid = String(started.execution_id);
    await untilLogged(`/api/v1/jobs/busy/executions/${eid}/log`, 'more');
    // The next slot after the run began is skipped, and so newer than the run.
    await d.waitFor((l) => l.event === 'execution.skipped' && l.job_id === 'busy');
    const newest = (await d.api('GET', '/api/v1/jobs/busy/executions?limit=1')).body.data[0];
    expect(newest.status).to.equal('skipped');

    const one = await d.api('GET', `/api/v1/jobs/busy/executions/${eid}`);
    expect(one.status).to.equal(200);
    const e = one.body.data;
    expect(e.status).to.equal('in_progress');
    expect(e.attempts).to.have.length(1);
    expect(e.attempts[0]).to.include({ finished_at: null, exit_code: null, signal: null, reason: null, error: null });
    expect(Date.parse(e.attempts[0].started_at)).to.be.at.least(Date.parse(e.started_at));
    expect(e.retry_count).to.equal(0);
    expect(e.output).to.equal('started\nmore\n');
    // Lists show it the same way.
    const listed = (await d.api('GET', '/api/v1/executions?status=in_progress')).body.data.find((x: Json) => x.id === eid);
    expect(listed.output).to.equal('started\nmore\n');
    expect(listed.attempts).to.have.length(1);

    const tail = await d.api('GET', '/api/v1/jobs/busy/tail?n=5');
    expect(tail.status).to.equal(200);
    expect(tail.headers.get('x-execution-id')).to.equal(eid);
    expect(tail.text).to.equal('started\nmore\n');

    await d.api('POST', '/api/v1/jobs/busy/pause');
    expect((await d.api('POST', `/api/v1/jobs/busy/executions/${eid}/cancel`)).status).to.equal(202);
    const ended = (await d.api('GET', `/api/v1/jobs/busy/executions/${eid}`)).body.data;
    expect(ended.status).to.equal('cancelled');
    expect(ended.attempts[0].finished_at).to.be.a('string');
  });

  it('refuses a PUT with status on a completed one-shot job (409 JOB_COMPLETED), as pause and resume do', async function () {
    const at = new Date(Date.now() + 1500).toISOString();
    expect((await d.api('POST', '/api/v1/jobs', { id: 'once', schedule: at, command: 'true' })).status).to.equal(201);
    await d.waitFor((l) => l.event === 'execution.finished' && l.job_id === 'once');
    expect((await d.api('GET', '/api/v1/jobs/once')).body.data.status).to.equal('completed');
    for (const status of ['active', 'paused']) {
      const res = await d.api('PUT', '/api/v1/jobs/once', { status });
      expect(res.status, res.text).to.equal(409);
      expect(res.body.error.code).to.equal('JOB_COMPLETED');
      expect(res.body.error.message).to.include('give it a new schedule');
    }
    const job = (await d.api('GET', '/api/v1/jobs/once')).body.data;
    expect(job).to.include({ status: 'completed', next_run: null });
    // Other fields may still change, and a new instant makes it due again.
    expect((await d.api('PUT', '/api/v1/jobs/once', { retries: 2 })).body.data.status).to.equal('completed');
    const later = new Date(Math.ceil(Date.now() / 1000) * 1000 + 3_600_000).toISOString();
    const revived = await d.api('PUT', '/api/v1/jobs/once', { schedule: later, status: 'active' });
    expect(revived.status, revived.text).to.equal(200);
    expect(revived.body.data.next_run).to.equal(later);
    expect((await d.api('DELETE', '/api/v1/jobs/once')).status).to.equal(200);
  });

  it('lists jobs by ?sort=id (default), -created_at, next_run and -last_run', async function () {
    // Made in an order that is not id order; schedules whose next runs are in yet another order.
    const made: Json[] = [];
    for (const [id, schedule] of [['s-c', '@every 1m'], ['s-a', '@daily'], ['s-d', '@hourly'], ['s-b', '@every 2m']]) {
      made.push((await d.api('POST', '/api/v1/jobs', { id, schedule, command: 'true', tags: ['sorted'] })).body.data);
    }
    expect((await d.api('POST', '/api/v1/jobs/s-b/pause')).status).to.equal(200);
    for (const id of ['s-d', 's-a']) {
      const eid = (await d.api('POST', `/api/v1/jobs/${id}/run`)).body.data.execution_id;
      await d.finished(eid);
    }
    const ids = async (query: string) => {
      const res = await d.api('GET', `/api/v1/jobs?tag=sorted&${query}`);
      expect(res.status, res.text).to.equal(200);
      return res.body.data.map((j: Json) => j.id);
    };
    expect(await ids('')).to.deep.equal(['s-a', 's-b', 's-c', 's-d']);
    expect(await ids('sort=id')).to.deep.equal(['s-a', 's-b', 's-c', 's-d']);
    const byCreated = [...made].sort((x, y) => Date.parse(y.created_at) - Date.parse(x.created_at) || (x.id < y.id ? -1 : 1)).map((j) => j.id);
    expect(await ids('sort=-created_at')).to.deep.equal(byCreated);
    // s-b is paused: no next run, so last.
    expect(await ids('sort=next_run')).to.deep.equal(['s-c', 's-d', 's-a', 's-b']);
    // s-a ran last, then s-d; the others never ran, in id order.
    expect(await ids('sort=-last_run')).to.deep.equal(['s-a', 's-d', 's-b', 's-c']);
    // Paged: the same order, one page at a time.
    expect(await ids('sort=next_run&limit=2&offset=1')).to.deep.equal(['s-d', 's-a']);
    const page = (await d.api('GET', '/api/v1/jobs?tag=sorted&sort=-last_run&limit=1')).body;
    expect(page.pagination).to.deep.equal({ total: 4, limit: 1, offset: 0 });
    // Unfiltered too (every job of the daemon).
    const all = (await d.api('GET', '/api/v1/jobs?sort=-last_run&limit=2')).body.data.map((j: Json) => j.id);
    expect(all).to.deep.equal(['s-a', 's-d']);
    // Every job by next run (read from the scheduler's queue), then the ones without one in id order (busy is paused).
    const byNext = (await d.api('GET', '/api/v1/jobs?sort=next_run')).body;
    expect(byNext.data.map((j: Json) => j.id)).to.deep.equal(['s-c', 's-d', 's-a', 'busy', 's-b']);
    expect(byNext.pagination.total).to.equal(5);
    expect((await d.api('GET', '/api/v1/jobs?sort=next_run&offset=2&limit=2')).body.data.map((j: Json) => j.id)).to.deep.equal(['s-a', 'busy']);
    const newest = (await d.api('GET', '/api/v1/jobs?sort=-created_at&limit=2&offset=1')).body;
    expect(newest.data.map((j: Json) => j.id)).to.deep.equal(byCreated.slice(1, 3));
    expect(newest.pagination.total).to.equal(5);
  });
});
