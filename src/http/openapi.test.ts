import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { pino } from 'pino';
import { AuditLog } from '../audit/log.ts';
import { AuditRecorder } from '../audit/recorder.ts';
import { DockerDriver } from '../runtime/docker/driver.ts';
import { SandboxManager } from '../sandbox/manager.ts';
import { Snapshots } from '../sandbox/snapshots.ts';
import { Workspaces } from '../sandbox/workspaces.ts';
import { createHttpApp } from './app.ts';
import { Metrics } from './metrics.ts';
import { openApiDocument, V1_ROUTES } from './openapi.ts';

/** The app as serve builds it; nothing here reaches the engine. */
function app() {
  const log = pino({ level: 'silent' });
  const driver = new DockerDriver();
  const manager = new SandboxManager({ driver, stateDir: '/nonexistent', log });
  const workspaces = new Workspaces({
    manager,
    policy: async () => {
      throw new Error('not used');
    },
    policyName: 'default',
    allowCreate: false,
    isGitWritable: false,
  });
  return createHttpApp({
    manager,
    workspaces,
    metrics: new Metrics(manager, undefined),
    driver,
    log,
    loadPolicy: async () => {
      throw new Error('not used');
    },
    workerImage: 'unused',
    operatorSha256: '0'.repeat(64),
    isAuthDisabled: false,
    allowedHosts: ['localhost'],
    allowedOrigins: [],
    maxBodyBytes: 1024 * 1024,
    recorder: new AuditRecorder(new AuditLog({ file: ':memory:', log }), manager),
    snapshots: new Snapshots({ manager }),
  });
}

type Operation = {
  requestBody?: { content: Record<string, { schema: object; example?: unknown }> };
  responses: Record<string, { content?: Record<string, { schema: object; example?: unknown }> }>;
};

test('every /v1 route the app registers is in the document, and nothing else', async () => {
  const registered = new Set(
    app()
      .routes.filter((route) => route.path.startsWith('/v1/') && route.method !== 'ALL')
      .map((route) => `${route.method} ${route.path}`),
  );
  const documented = new Set(V1_ROUTES.map((route) => `${route.method.toUpperCase()} /v1${route.path}`));
  assert.deepEqual([...registered].sort(), [...documented].sort());
});

test('the document is valid OpenAPI 3.1', async () => {
  const result = await new Validator().validate(openApiDocument());
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
});

test('every example validates against its schema, and every route names its error statuses', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('date-time', (text: string) => !Number.isNaN(Date.parse(text)));
  const paths = openApiDocument().paths as Record<string, Record<string, Operation>>;
  let examples = 0;
  for (const [pathName, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const media = [
        ...Object.values(operation.requestBody?.content ?? {}),
        ...Object.values(operation.responses).flatMap((reply) => Object.values(reply.content ?? {})),
      ];
      for (const { schema, example } of media) {
        if (example === undefined) continue;
        examples++;
        const validate = ajv.compile(schema);
        assert.ok(validate(example), `${method} ${pathName}: ${ajv.errorsText(validate.errors)}`);
      }
      if (pathName !== '/v1/openapi.json') {
        for (const status of ['400', '401', '403', '500'])
          assert.ok(operation.responses[status], `${method} ${pathName} says what ${status} means`);
      }
    }
  }
  assert.ok(examples >= 12, `${examples} examples`);
});
