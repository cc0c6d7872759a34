/** Table-driven: every kind of bad input gets a 4xx with {"error": {code, message, details?}} naming the field; never a 500. */
import { expect } from 'chai';
import { removeDir, startWithJobs, type DaemonProcess } from '../helpers/daemon-process.js';

interface Case {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** Text the message must contain (the field and what was expected). */
  says: string[];
  /** JSON path a detail must name. */
  detail?: string;
}

const job = { schedule: '@daily', command: 'true' };
const big = 'x'.repeat(1024 * 1024 + 10);

const CASES: Case[] = [
  { name: 'unknown field', method: 'POST', path: '/api/v1/jobs', body: { ...job, colour: 'red' }, status: 400, code: 'VALIDATION_FAILED', says: ['colour', 'unknown field'], detail: '/colour' },
  { name: 'schedule with \\r between fields', method: 'POST', path: '/api/v1/jobs', body: { ...job, schedule: '0\r0 * * *' }, status: 400, code: 'VALIDATION_FAILED', says: ['schedule', '"0\\r0 * * *" is invalid'], detail: '/schedule' },
  { name: 'schedule with a line break', method: 'POST', path: '/api/v1/jobs', body: { ...job, schedule: '0 0 * * *\nx' }, status: 400, code: 'VALIDATION_FAILED', says: ['schedule'], detail: '/schedule' },
  { name: 'schedule with U+2028', method: 'POST', path: '/api/v1/jobs', body: { ...job, schedule: '0\u20280 * * *' }, status: 400, code: 'VALIDATION_FAILED', says: ['schedule'], detail: '/schedule' },
  { name: 'both command and steps', method: 'POST', path: '/api/v1/jobs', body: { command: 'true', steps: [{ name: 'a', command: 'true' }] }, status: 400, code: 'VALIDATION_FAILED', says: ['command or steps, not both'], detail: '/steps' },
  { name: 'run-now with an unknown body field', method: 'POST', path: '/api/v1/jobs/victim/run', body: { enviroment: {} }, status: 400, code: 'VALIDATION_FAILED', says: ['enviroment', 'unknown field'], detail: '/enviroment' },
  { name: 'missing command', method: 'POST', path: '/api/v1/jobs', body: { schedule: '@daily' }, status: 400, code: 'VALIDATION_FAILED', says: ['command', 'is required'], detail: '/command' },
  { name: 'timeout of wrong type', method: 'POST', path: '/api/v1/jobs', body: { ...job, timeout: true }, status: 400, code: 'VALIDATION_FAILED', says: ['timeout', 'true', 'duration'], detail: '/timeout' },
  { name: 'timeout as bad duration', method: 'POST', path: '/api/v1/jobs', body: { ...job, timeout: '5x' }, status: 400, code: 'VALIDATION_FAILED', says: ['timeout', '"5x"', '1h30m'], detail: '/timeout' },
  { name: 'timeout zero', method: 'POST', path: '/api/v1/jobs', body: { ...job, timeout: 0 }, status: 400, code: 'VALIDATION_FAILED', says: ['timeout', 'at least 1s'], detail: '/timeout' },
  { name: 'negative retries', method: 'POST', path: '/api/v1/jobs', body: { ...job, retries: -1 }, status: 400, code: 'VALIDATION_FAILED', says: ['retries', 'from 0 to 100'], detail: '/retries' },
  { name: 'too many retries', method: 'POST', path: '/api/v1/jobs', body: { ...job, retries: 101 }, status: 400, code: 'VALIDATION_FAILED', says: ['retries', '101'], detail: '/retries' },
  { name: 'fractional retries', method: 'POST', path: '/api/v1/jobs', body: { ...job, retries: 1.5 }, status: 400, code: 'VALIDATION_FAILED', says: ['retries'], detail: '/retries' },
  { name: 'invalid cron step', method: 'POST', path: '/api/v1/jobs', body: { ...job, schedule: '*/0 * * * *' }, status: 400, code: 'VALIDATION_FAILED', says: ['schedule', '"*/0 * * * *" is not a cron expression'], detail: '/schedule' },
  { name: 'cron with 4 fields', method: 'POST', path: '/api/v1/jobs', body: { ...job, schedule: '* * * *' }, status: 400, code: 'VALIDATION_FAILED', says: ['schedule', 'has 4 fields', 'expected 5'], detail: '/schedule' },
  { name: 'cron minute out of range', method: 'POST', path: '/api/v1/jobs', body: { ...job, schedule: '61 * * * *' }, status: 400, code: 'VALIDATION_FAILED', says: ['schedule', 'minute', '61'], detail: '/schedule' },
  { name: 'unknown macro', method: 'POST', path: '/api/v1/jobs', body: { ...job, schedule: '@fortnightly' }, status: 400, code: 'VALIDATION_FAILED', says: ['schedule', '@fortnightly', 'not a known macro'], detail: '/schedule' },
  { name: '@every without unit', method: 'POST', path: '/api/v1/jobs', body: { ...job, schedule: '@every 90' }, status: 400, code: 'VALIDATION_FAILED', says: ['schedule', '@every 90s'], detail: '/schedule' },
  { name: 'one-shot in the past', method: 'POST', path: '/api/v1/jobs', body: { ...job, schedule: '2001-01-01T00:00:00Z' }, status: 400, code: 'VALIDATION_FAILED', says: ['schedule', 'in the past'], detail: '/schedule' },
  { name: 'unknown time zone', method: 'POST', path: '/api/v1/jobs', body: { ...job, timezone: 'Mars/Olympus' }, status: 400, code: 'VALIDATION_FAILED', says: ['timezone', '"Mars/Olympus"', 'IANA'], detail: '/timezone' },
  { name: 'relative working_directory', method: 'POST', path: '/api/v1/jobs', body: { ...job, working_directory: 'tmp' }, status: 400, code: 'VALIDATION_FAILED', says: ['working_directory', 'absolute'], detail: '/working_directory' },
  { name: 'missing working_directory', method: 'POST', path: '/api/v1/jobs', body: { ...job, working_directory: '/nonexistent/dir' }, status: 400, code: 'VALIDATION_FAILED', says: ['working_directory', 'does not exist'], detail: '/working_directory' },
  { name: 'bad id', method: 'POST', path: '/api/v1/jobs', body: { ...job, id: 'Bad Id!' }, status: 400, code: 'VALIDATION_FAILED', says: ['id', 'Bad Id!'], detail: '/id' },
  { name: 'id with ..', method: 'POST', path: '/api/v1/jobs', body: { ...job, id: 'a..b' }, status: 400, code: 'VALIDATION_FAILED', says: ['id', '".."'], detail: '/id' },
  { name: 'command of wrong type', method: 'POST', path: '/api/v1/jobs', body: { ...job, command: 42 }, status: 400, code: 'VALIDATION_FAILED', says: ['command', 'non-empty string'], detail: '/command' },
  { name: 'empty command array', method: 'POST', path: '/api/v1/jobs', body: { ...job, command: [] }, status: 400, code: 'VALIDATION_FAILED', says: ['command'], detail: '/command' },
  { name: 'environment value not a string', method: 'POST', path: '/api/v1/jobs', body: { ...job, environment: { A: 1 } }, status: 400, code: 'VALIDATION_FAILED', says: ['environment.A'], detail: '/environment/A' },
  { name: 'tags not an array', method: 'POST', path: '/api/v1/jobs', body: { ...job, tags: 'a,b' }, status: 400, code: 'VALIDATION_FAILED', says: ['tags', 'array'], detail: '/tags' },
  { name: 'bad concurrency', method: 'POST', path: '/api/v1/jobs', body: { ...job, concurrency: 'sometimes' }, status: 400, code: 'VALIDATION_FAILED', says: ['concurrency', '"forbid"'], detail: '/concurrency' },
  { name: 'status completed is read-only', method: 'POST', path: '/api/v1/jobs', body: { ...job, status: 'completed' }, status: 400, code: 'VALIDATION_FAILED', says: ['status', '"active", "paused"'], detail: '/status' },
  { name: 'body is an array', method: 'POST', path: '/api/v1/jobs', body: [job], status: 400, code: 'VALIDATION_FAILED', says: ['body', 'object'] },
  { name: 'malformed JSON', method: 'POST', path: '/api/v1/jobs', body: '{"schedule": ', status: 400, code: 'INVALID_JSON', says: ['not valid JSON'] },
  { name: 'JSON scalar body', method: 'POST', path: '/api/v1/jobs', body: '"just a string"', status: 400, code: 'VALIDATION_FAILED', says: ['"just a string" is JSON but not an object', 'expected a JSON object'] },
  { name: 'null body', method: 'POST', path: '/api/v1/jobs', body: 'null', status: 400, code: 'VALIDATION_FAILED', says: ['body: null is JSON but not an object'] },
  { name: 'null body on PUT', method: 'PUT', path: '/api/v1/jobs/victim', body: 'null', status: 400, code: 'VALIDATION_FAILED', says: ['body: null is JSON but not an object'] },
  { name: 'invalid id in a path', method: 'GET', path: '/api/v1/jobs/Not%20An%20Id', status: 404, code: 'JOB_NOT_FOUND', says: ['"Not An Id": not a valid job id', 'lower case'] },
  { name: 'invalid execution id in a path', method: 'GET', path: '/api/v1/jobs/victim/executions/exec-1', status: 404, code: 'EXECUTION_NOT_FOUND', says: ['"exec-1": not a valid execution id'] },
  { name: 'unknown query parameters', method: 'GET', path: '/api/v1/jobs?page=2&size=10&limit=5', status: 400, code: 'VALIDATION_FAILED', says: ['unknown query parameters "page", "size"', 'expected one of limit, offset'], detail: '/query/size' },
  { name: 'query parameter on a route that takes none', method: 'POST', path: '/api/v1/jobs/victim/run?now=1', status: 400, code: 'VALIDATION_FAILED', says: ['unknown query parameter "now"', 'takes none'], detail: '/query/now' },
  { name: 'unknown sort', method: 'GET', path: '/api/v1/jobs?sort=name', status: 400, code: 'VALIDATION_FAILED', says: ['sort=', 'id, -created_at, next_run, -last_run'], detail: '/query/sort' },
  { name: 'malformed YAML', method: 'POST', path: '/api/v1/jobs', body: 'schedule: [unclosed\ncommand: x', headers: { 'content-type': 'application/yaml' }, status: 400, code: 'INVALID_YAML', says: ['not valid YAML', 'line'] },
  { name: 'YAML duplicate key', method: 'POST', path: '/api/v1/jobs', body: 'schedule: "@daily"\nschedule: "@hourly"\ncommand: x\n', headers: { 'content-type': 'text/yaml' }, status: 400, code: 'INVALID_YAML', says: ['not valid YAML'] },
  { name: 'unsupported content type', method: 'POST', path: '/api/v1/jobs', body: 'schedule=@daily', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', says: ['application/x-www-form-urlencoded', 'application/json'] },
  { name: 'text/plain body', method: 'POST', path: '/api/v1/jobs', body: 'hello', headers: { 'content-type': 'text/plain' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', says: ['text/plain'] },
  { name: 'body over 1 MiB', method: 'POST', path: '/api/v1/jobs', body: { ...job, name: big }, status: 413, code: 'BODY_TOO_LARGE', says: ['1 MiB'] },
  { name: 'unknown job', method: 'GET', path: '/api/v1/jobs/nope', status: 404, code: 'JOB_NOT_FOUND', says: ['"nope"'] },
  { name: 'job id with path tricks', method: 'GET', path: '/api/v1/jobs/..%2F..%2Fetc', status: 404, code: 'JOB_NOT_FOUND', says: ['no job'] },
  { name: 'unknown execution', method: 'GET', path: '/api/v1/jobs/victim/executions/exec-00000000000000000000', status: 404, code: 'EXECUTION_NOT_FOUND', says: ['exec-00000000000000000000'] },
  { name: 'malformed execution id', method: 'GET', path: '/api/v1/jobs/victim/executions/..%2Fx/log', status: 404, code: 'EXECUTION_NOT_FOUND', says: ['victim'] },
  { name: 'limit not a number', method: 'GET', path: '/api/v1/jobs?limit=abc', status: 400, code: 'VALIDATION_FAILED', says: ['limit', 'integer from 1 to 1000'], detail: '/query/limit' },
  { name: 'limit too large', method: 'GET', path: '/api/v1/jobs?limit=100000', status: 400, code: 'VALIDATION_FAILED', says: ['limit'], detail: '/query/limit' },
  { name: 'negative offset', method: 'GET', path: '/api/v1/jobs?offset=-1', status: 400, code: 'VALIDATION_FAILED', says: ['offset'], detail: '/query/offset' },
  { name: 'unknown status filter', method: 'GET', path: '/api/v1/jobs?status=sleeping', status: 400, code: 'VALIDATION_FAILED', says: ['status', 'active, paused, completed'], detail: '/query/status' },
  { name: 'unknown execution status', method: 'GET', path: '/api/v1/executions?status=done', status: 400, code: 'VALIDATION_FAILED', says: ['status', 'in_progress'], detail: '/query/status' },
  { name: 'bad stream', method: 'GET', path: '/api/v1/jobs/victim/tail?n=x', status: 400, code: 'VALIDATION_FAILED', says: ['n='], detail: '/query/n' },
  { name: 'preview without schedule', method: 'GET', path: '/api/v1/schedule/next', status: 400, code: 'VALIDATION_FAILED', says: ['schedule', 'required'], detail: '/query/schedule' },
  { name: 'preview of invalid cron', method: 'GET', path: '/api/v1/schedule/next?schedule=99+*+*+*+*', status: 400, code: 'VALIDATION_FAILED', says: ['schedule', 'not a cron expression'], detail: '/query/schedule' },
  { name: 'preview in unknown zone', method: 'GET', path: '/api/v1/schedule/next?schedule=@daily&timezone=Nowhere/Land', status: 400, code: 'VALIDATION_FAILED', says: ['timezone', 'Nowhere/Land'], detail: '/query/timezone' },
  { name: 'preview n too big', method: 'GET', path: '/api/v1/schedule/next?schedule=@daily&n=5000', status: 400, code: 'VALIDATION_FAILED', says: ['n='], detail: '/query/n' },
  { name: 'PUT changing the id', method: 'PUT', path: '/api/v1/jobs/victim', body: { id: 'other' }, status: 400, code: 'VALIDATION_FAILED', says: ['id', 'cannot change'] },
  { name: 'PUT with a bad field', method: 'PUT', path: '/api/v1/jobs/victim', body: { retries: 'many' }, status: 400, code: 'VALIDATION_FAILED', says: ['retries'], detail: '/retries' },
  { name: 'unknown route', method: 'GET', path: '/api/v1/nothing-here', status: 404, code: 'ROUTE_NOT_FOUND', says: ['/api/v1/nothing-here', 'GET /api/v1/openapi.json lists the routes'] },
  { name: 'unknown route outside the API', method: 'GET', path: '/v1/jobs', status: 404, code: 'ROUTE_NOT_FOUND', says: ['/v1/jobs', 'the API lives under /api/v1'] },
  { name: 'wrong method', method: 'PATCH', path: '/api/v1/jobs/victim', body: {}, status: 405, code: 'METHOD_NOT_ALLOWED', says: ['not allowed'] },
];

describe('bad input (black-box, table-driven)', function () {
  let d: DaemonProcess;

  before(async function () {
    d = await startWithJobs('  {}\n');
    expect((await d.api('POST', '/api/v1/jobs', { id: 'victim', ...job })).status).to.equal(201);
  });

  after(async function () {
    const exit = await d.stop();
    await removeDir(d.dir);
    expect(exit.code).to.equal(0);
  });

  it(`has at least 30 cases (${CASES.length})`, function () {
    expect(CASES.length).to.be.at.least(30);
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.status} ${c.code}`, async function () {
      const res = await d.api(c.method, c.path, c.body, c.headers);
      expect(res.status, res.text).to.equal(c.status);
      expect(res.body, res.text).to.have.property('error');
      expect(Object.keys(res.body)).to.deep.equal(['error']);
      const { code, message, details } = res.body.error;
      expect(code).to.equal(c.code);
      expect(message).to.be.a('string');
      for (const s of c.says) expect(message).to.include(s);
      expect(message).not.to.match(/\n\s+at /, 'no stack trace');
      if (details !== undefined) {
        expect(details).to.be.an('array');
        for (const x of details) expect(x).to.have.keys('path', 'message');
      }
      if (c.detail) expect(details.map((x: { path: string }) => x.path)).to.include(c.detail);
    });
  }

  it('is still up and unchanged afterwards', async function () {
    const res = await d.api('GET', '/api/v1/jobs');
    expect(res.body.data.map((j: { id: string }) => j.id)).to.deep.equal(['victim']);
    expect((await d.api('GET', '/api/v1/jobs/victim')).body.data.retries).to.equal(0);
  });
});
