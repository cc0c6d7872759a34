/**
 * The OpenAPI 3.1 document: it lists exactly the routes the Koa routers serve, it is well-formed, its
 * request schemas are the validator's, and the real daemon's answers and query parameters match it.
 */
import { expect } from 'chai';
import Router from '@koa/router';
import Ajv2020Module from 'ajv/dist/2020.js';
import type { SchemaObject } from 'ajv';
import { createApp } from '../../src/api/app.js';
import type { ApiDeps } from '../../src/api/deps.js';
import { openApiDocument } from '../../src/api/openapi.js';
import { JOB_INPUT_SCHEMA } from '../../src/jobs/job-schema.js';
import { removeDir, startWithJobs, type ApiReply, type DaemonProcess } from '../helpers/daemon-process.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- walking a JSON document */
type Json = Record<string, any>;

const Ajv2020 = Ajv2020Module.default;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Deps whose every member is a harmless function: routes only need them when they answer. */
function stubDeps(): ApiDeps {
  return new Proxy({} as ApiDeps, {
    get: (_target, key) => (key === 'tokens' ? () => [] : key === 'timezone' ? 'UTC' : () => undefined),
  });
}

/** `METHOD /path/{param}` for every route of the routers (HEAD comes with GET and is not listed). */
function servedRoutes(routers: readonly Router[]): string[] {
  const out = new Set<string>();
  for (const router of routers) {
    for (const layer of router.stack) {
      for (const method of layer.methods) {
        if (method === 'HEAD') continue;
        out.add(`${method} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`);
      }
    }
  }
  return [...out].sort();
}

function documentedRoutes(doc: Json): string[] {
  const out: string[] = [];
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const method of METHODS) if (item[method]) out.push(`${method.toUpperCase()} ${path}`);
  }
  return out.sort();
}

/** Follows a local `$ref` ('#/components/...'). */
function deref(doc: Json, node: Json): Json {
  let n = node;
  for (let hops = 0; n && typeof n.$ref === 'string'; hops++) {
    if (hops > 10) throw new Error(`$ref loop at ${node.$ref}`);
    n = pointer(doc, n.$ref);
  }
  return n;
}

function pointer(doc: Json, ref: string): Json {
  expect(ref, `$ref ${ref}`).to.match(/^#\//);
  let n: any = doc;
  for (const part of ref.slice(2).split('/')) {
    n = n?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  if (n === undefined) throw new Error(`$ref ${ref} does not resolve`);
  return n;
}

/** Every `$ref` string in a JSON value, with where it is. */
function refs(node: unknown, at = '#', out: Array<{ ref: string; at: string }> = []): Array<{ ref: string; at: string }> {
  if (Array.isArray(node)) node.forEach((v, i) => refs(v, `${at}/${i}`, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push({ ref: v, at });
      else refs(v, `${at}/${k}`, out);
    }
  }
  return out;
}

function operation(doc: Json, method: string, path: string): Json {
  const op = doc.paths[path]?.[method.toLowerCase()];
  if (!op) throw new Error(`the document has no ${method} ${path}`);
  return op;
}

/** Query and path parameters of an operation, its path item's included, refs followed. */
function parameters(doc: Json, method: string, path: string): Json[] {
  return [...(doc.paths[path].parameters ?? []), ...(operation(doc, method, path).parameters ?? [])].map((p: Json) => deref(doc, p));
}

const doc = openApiDocument();
const ajv = new Ajv2020({ strict: false, allErrors: true, formats: { 'date-time': RFC3339 } });

/** A validator for a schema of the document, its `#/components/...` refs resolved against the document. */
function compile(schema: SchemaObject) {
  return ajv.compile({ ...schema, components: doc.components });
}

/** Asserts that an answer's status is documented for the operation and its JSON body has the documented shape. */
function checkAnswer(method: string, path: string, res: ApiReply): void {
  const where = `${method} ${path} -> ${res.status}`;
  const documented = operation(doc, method, path).responses;
  expect(Object.keys(documented), `${where} is not documented: ${res.text.slice(0, 300)}`).to.include(String(res.status));
  const answer = deref(doc, documented[String(res.status)]);
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!;
  expect(Object.keys(answer.content ?? {}), `${where}: content type ${type}`).to.include(type);
  if (type !== 'application/json') return;
  const validate = compile(answer.content[type].schema);
  expect(validate(res.body), `${where}: ${ajv.errorsText(validate.errors)}\n${res.text.slice(0, 1000)}`).to.equal(true);
}

describe('OpenAPI document', function () {
  describe('in-process', function () {
    it('describes every route the routers serve, and no other', function () {
      const app = createApp(stubDeps());
      const served = servedRoutes(app.routers);
      const documented = documentedRoutes(doc);
      expect(served.length).to.be.greaterThan(15);
      const undocumented = served.filter((r) => !documented.includes(r));
      const unserved = documented.filter((r) => !served.includes(r));
      expect(undocumented, 'served but not in the OpenAPI document: describe them in src/api/openapi.ts').to.deep.equal([]);
      expect(unserved, 'in the OpenAPI document but not served: remove them from src/api/openapi.ts').to.deep.equal([]);
      expect(served).to.include.members(['GET /health', 'GET /metrics', 'GET /api/v1/openapi.json', 'POST /api/v1/jobs', 'GET /api/v1/jobs/{id}/executions/{eid}/log']);
    });

    it('is well-formed OpenAPI 3.1: info, paths, operations with responses, path parameters, unique operation ids', function () {
      expect(doc.openapi).to.match(/^3\.1\.\d+$/);
      expect(doc.info.title).to.equal('watchbell');
      expect(doc.info.version).to.match(/^\d+\.\d+\.\d+/);
      expect(doc.paths).to.be.an('object');
      const ids = new Set<string>();
      for (const [path, item] of Object.entries<Json>(doc.paths)) {
        expect(path, 'paths start with /').to.match(/^\//);
        const ops = METHODS.filter((m) => item[m]);
        expect(ops, `${path} has no operation`).to.not.be.empty;
        const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
        for (const method of ops) {
          const op: Json = item[method];
          const where = `${method.toUpperCase()} ${path}`;
          expect(op.operationId, `${where} operationId`).to.be.a('string');
          expect(ids.has(op.operationId), `${where}: duplicate operationId ${op.operationId}`).to.equal(false);
          ids.add(op.operationId);
          expect(op.summary, `${where} summary`).to.be.a('string');
          const responses = Object.entries<Json>(op.responses ?? {});
          expect(responses, `${where} has no responses`).to.not.be.empty;
          expect(responses.some(([status]) => /^2\d\d$/.test(status)), `${where} has no 2xx response`).to.equal(true);
          for (const [status, r] of responses) {
            expect(status, `${where} response key`).to.match(/^([1-5]\d\d|[1-5]XX|default)$/);
            const answer = deref(doc, r);
            expect(answer.description, `${where} ${status} description`).to.be.a('string');
            for (const [type, media] of Object.entries<Json>(answer.content ?? {})) {
              expect(media.schema, `${where} ${status} ${type} schema`).to.be.an('object');
            }
          }
          const params = parameters(doc, method, path);
          for (const p of params) {
            expect(p.in, `${where} parameter ${p.name}`).to.be.oneOf(['query', 'path', 'header', 'cookie']);
            expect(p.schema, `${where} parameter ${p.name} schema`).to.be.an('object');
          }
          const pathParams = params.filter((p) => p.in === 'path');
          expect(pathParams.map((p) => p.name).sort(), `${where} path parameters`).to.deep.equal([...templated].sort());
          for (const p of pathParams) expect(p.required, `${where} path parameter ${p.name} must be required`).to.equal(true);
          const names = params.map((p) => `${p.in}:${p.name}`);
          expect(new Set(names).size, `${where} repeats a parameter`).to.equal(names.length);
          if (op.requestBody) expect(Object.keys(deref(doc, op.requestBody).content), `${where} request body`).to.not.be.empty;
        }
      }
    });

    it('has only $refs that resolve, and schemas that compile as JSON Schema 2020-12', function () {
      for (const { ref, at } of refs(doc)) expect(() => pointer(doc, ref), at).not.to.throw();
      for (const [name, schema] of Object.entries<SchemaObject>(doc.components.schemas)) {
        expect(() => compile(schema), `components.schemas.${name}`).not.to.throw();
      }
      // Strict mode refuses unknown keywords, so a misspelt one (`minimun`) cannot slip through.
      const strict = new Ajv2020({ strict: true, allowUnionTypes: true, formats: { 'date-time': true } });
      strict.addKeyword({ keyword: 'components', schemaType: 'object' });
      for (const [name, schema] of Object.entries<SchemaObject>(doc.components.schemas)) {
        expect(() => strict.compile({ ...schema, components: doc.components }), `components.schemas.${name}`).not.to.throw();
      }
    });

    it('describes job bodies with the very schema the validator checks them with', function () {
      const { $id: _id, ...validated } = JOB_INPUT_SCHEMA;
      expect(doc.components.schemas.JobInput).to.deep.equal(validated);
      const update = doc.components.schemas.JobUpdate;
      expect({ ...update, required: validated.required, title: validated.title, description: undefined }).to.deep.equal({ ...validated, description: undefined });
      expect(update.required).to.deep.equal([]);
      for (const type of ['application/json', 'application/yaml', 'text/yaml']) {
        expect(operation(doc, 'POST', '/api/v1/jobs').requestBody.content[type].schema).to.deep.equal({ $ref: '#/components/schemas/JobInput' });
      }
    });
  });

  describe('against the real daemon (black-box)', function () {
    let d: DaemonProcess;
    let executionId: string;
    before(async function () {
      d = await startWithJobs('  from-config:\n    schedule: "0 6 * * *"\n    command: echo from config\n');
    });
    after(async function () {
      await d.stop();
      await removeDir(d.dir);
    });

    /** A request, its answer checked against the document. */
    async function call(method: string, template: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiReply> {
      const res = await d.api(method, path, body, headers);
      checkAnswer(method, template, res);
      return res;
    }

    it('serves the document at GET /api/v1/openapi.json', async function () {
      const res = await call('GET', '/api/v1/openapi.json', '/api/v1/openapi.json');
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal(JSON.parse(JSON.stringify(doc)));
    });

    it('answers with the statuses and shapes the document gives', async function () {
      await call('GET', '/health', '/health');
      await call('GET', '/metrics', '/metrics');
      const created = await call('POST', '/api/v1/jobs', '/api/v1/jobs', {
        id: 'documented', schedule: '@hourly', command: 'echo out; echo err >&2', tags: ['doc'], timeout: '5m', environment: { SECRET: 'x' },
      });
      expect(created.status).to.equal(201);
      expect((await call('POST', '/api/v1/jobs', '/api/v1/jobs', 'id: from-yaml\nschedule: "@daily"\ncommand: [echo, hi]\n', { 'content-type': 'application/yaml' })).status).to.equal(201);
      expect((await call('POST', '/api/v1/jobs', '/api/v1/jobs', { schedule: '*/0 * * * *', command: 'true', colour: 'red' })).status).to.equal(400);
      expect((await call('POST', '/api/v1/jobs', '/api/v1/jobs', 'hello', { 'content-type': 'text/plain' })).status).to.equal(415);
      expect((await call('POST', '/api/v1/jobs', '/api/v1/jobs', { id: 'documented', schedule: '@hourly', command: 'true' })).status).to.equal(409);
      expect((await call('GET', '/api/v1/jobs', '/api/v1/jobs?tag=doc')).body.data).to.have.length(1);
      expect((await call('GET', '/api/v1/jobs', '/api/v1/jobs?limit=0')).status).to.equal(400);
      await call('GET', '/api/v1/jobs/{id}', '/api/v1/jobs/documented');
      expect((await call('GET', '/api/v1/jobs/{id}', '/api/v1/jobs/nope')).status).to.equal(404);
      await call('PUT', '/api/v1/jobs/{id}', '/api/v1/jobs/documented', { retries: 1, retry_delay: 0 });
      expect((await call('PUT', '/api/v1/jobs/{id}', '/api/v1/jobs/from-config', { retries: 1 })).status).to.equal(409);
      await call('POST', '/api/v1/jobs/{id}/pause', '/api/v1/jobs/documented/pause');
      await call('POST', '/api/v1/jobs/{id}/resume', '/api/v1/jobs/documented/resume');
      const run = await call('POST', '/api/v1/jobs/{id}/run', '/api/v1/jobs/documented/run');
      expect(run.status).to.equal(202);
      executionId = run.body.data.execution_id;
      await d.finished(executionId);
      // The job now has a last_run: an Execution inside a Job.
      expect((await call('GET', '/api/v1/jobs/{id}', '/api/v1/jobs/documented')).body.data.last_run.id).to.equal(executionId);
      await call('GET', '/api/v1/jobs/{id}/executions', '/api/v1/jobs/documented/executions');
      await call('GET', '/api/v1/jobs/{id}/executions/{eid}', `/api/v1/jobs/documented/executions/${executionId}`);
      expect((await call('GET', '/api/v1/jobs/{id}/executions/{eid}', '/api/v1/jobs/documented/executions/exec-00000000000000000000')).status).to.equal(404);
      await call('GET', '/api/v1/jobs/{id}/executions/{eid}/log', `/api/v1/jobs/documented/executions/${executionId}/log`);
      expect((await call('POST', '/api/v1/jobs/{id}/executions/{eid}/cancel', `/api/v1/jobs/documented/executions/${executionId}/cancel`)).status).to.equal(409);
      await call('GET', '/api/v1/jobs/{id}/tail', '/api/v1/jobs/documented/tail');
      await call('GET', '/api/v1/executions', '/api/v1/executions');
      await call('GET', '/api/v1/schedule/next', '/api/v1/schedule/next?schedule=%40daily&n=2');
      expect((await call('DELETE', '/api/v1/jobs/{id}', '/api/v1/jobs/from-config')).status).to.equal(409);
      expect((await call('POST', '/api/v1/config/reload', '/api/v1/config/reload')).status).to.equal(200);
      await call('DELETE', '/api/v1/jobs/{id}', '/api/v1/jobs/from-yaml');
    });

    it('refuses, on every /api/v1 operation, a query parameter the document does not list, naming it', async function () {
      const eid = (await d.api('POST', '/api/v1/jobs/from-config/run')).body.data.execution_id as string;
      await d.finished(eid);
      let probed = 0;
      for (const [template, item] of Object.entries<Json>(doc.paths)) {
        if (!template.startsWith('/api/v1/')) continue;
        for (const method of METHODS.filter((m) => item[m])) {
          const path = template.replace('{id}', 'from-config').replace('{eid}', eid);
          const res = await call(method.toUpperCase(), template, `${path}?page=2`);
          expect(res.status, `${method} ${template}?page=2: ${res.text.slice(0, 200)}`).to.equal(400);
          expect(res.body.error.details.map((x: Json) => x.path)).to.deep.equal(['/query/page']);
          expect(res.body.error.message).to.include('unknown query parameter "page"');
          probed++;
        }
      }
      expect(probed).to.be.greaterThan(15);
    });

    it('documents the query parameters the routes accept, with their bounds', async function () {
      const eid = (await d.api('POST', '/api/v1/jobs/from-config/run')).body.data.execution_id as string;
      await d.finished(eid);
      // Values that pass for parameters whose schema alone does not make a valid one.
      const valid: Record<string, string> = { schedule: '@daily', timezone: 'Europe/Berlin' };
      let probed = 0;
      for (const [template, item] of Object.entries<Json>(doc.paths)) {
        if (!item.get) continue;
        const params = parameters(doc, 'GET', template);
        const path = template.replace('{id}', 'from-config').replace('{eid}', eid);
        const required = params.filter((p) => p.in === 'query' && p.required);
        const base = (over: Record<string, string>) => {
          const q = new URLSearchParams();
          for (const p of required) q.set(p.name, valid[p.name] ?? 'x');
          for (const [k, v] of Object.entries(over)) q.set(k, v);
          return `${path}?${q}`;
        };
        const accepts = async (name: string, v: string) => {
          const res = await call('GET', template, base({ [name]: v }));
          expect(res.status, `GET ${template} ${name}=${v.slice(0, 40)} should be accepted: ${res.text.slice(0, 300)}`).to.be.within(200, 299);
        };
        const refuses = async (name: string, v: string) => {
          const res = await call('GET', template, base({ [name]: v }));
          expect(res.status, `GET ${template} ${name}=${v.slice(0, 40)} should be refused`).to.equal(400);
          expect(res.body.error.details.map((x: Json) => x.path), res.text).to.include(`/query/${name}`);
        };
        for (const p of params.filter((x) => x.in === 'query')) {
          const s = p.schema as Json;
          probed++;
          if (s.type === 'integer') {
            await accepts(p.name, String(s.maximum));
            await accepts(p.name, String(s.minimum));
            await refuses(p.name, (BigInt(s.maximum) + 1n).toString());
            await refuses(p.name, String(s.minimum - 1));
            await refuses(p.name, 'ten');
          } else if (s.enum) {
            for (const v of s.enum) await accepts(p.name, String(v));
            await refuses(p.name, 'bogus');
          } else if (s.type === 'boolean') {
            await accepts(p.name, 'true');
            await accepts(p.name, 'false');
            await refuses(p.name, 'yes');
          } else if (s.type === 'string') {
            await accepts(p.name, valid[p.name] ?? 'x'.repeat(s.maxLength));
            await refuses(p.name, 'x'.repeat(s.maxLength + 1));
          } else {
            expect.fail(`GET ${template} parameter ${p.name}: no probe for schema ${JSON.stringify(s)}`);
          }
          if (p.required) {
            const q = new URLSearchParams();
            for (const r of required) if (r.name !== p.name) q.set(r.name, valid[r.name] ?? 'x');
            const res = await call('GET', template, `${path}?${q}`);
            expect(res.status, `GET ${template} without ${p.name}`).to.equal(400);
          }
        }
      }
      expect(probed).to.be.greaterThan(15);
    });
  });
});
