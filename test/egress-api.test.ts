import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { EgressRecord } from '../src/egress/audit.ts';
import { ControlPlane, structured } from './support/control-plane.ts';
import { close, listen } from './support/egress-servers.ts';
import type { ExecResult } from './support/sandboxes.ts';

/**
 * The operator's view of egress through a real `sandboxd serve`: the effective
 * allow-list on GET, run-time changes on PATCH (operator token only), the audit
 * lines and the metrics. The policy names web.test without any CIDR, as a
 * production policy would; the test-only override points web.test at 127.0.0.1.
 */

let plane: ControlPlane;
let web: http.Server;
let port: number;
let sandbox: { id: string; token: string };
let client: Client;

before(async () => {
  web = http.createServer((_request, response) => response.end('reached\n'));
  port = await listen(web);
  plane = await ControlPlane.create({ network: { egress: { hosts: ['web.test'], ports: [port] } } });
  await plane.start({
    SANDBOXD_TEST_HOST_OVERRIDES: JSON.stringify({ 'web.test': ['127.0.0.1'] }),
    SANDBOXD_LOG_LEVEL: 'info',
  });
  const response = await plane.fetch('/v1/sandboxes', { method: 'POST', body: '{}' });
  sandbox = (await response.json()) as { id: string; token: string };
  assert.equal(response.status, 201, JSON.stringify(sandbox));
  client = await plane.client(`/s/${sandbox.id}/mcp`, sandbox.token);
});

after(async () => {
  await client?.close().catch(() => undefined);
  await plane?.destroy();
  if (web) await close(web);
});

async function sh(cmd: string): Promise<ExecResult> {
  const result = await client.callTool({ name: 'exec_command', arguments: { cmd, yield_time_ms: 30_000 } });
  return structured(result) as unknown as ExecResult;
}

function patch(body: unknown, token?: string): Promise<Response> {
  return plane.fetch(`/v1/sandboxes/${sandbox.id}`, {
    method: 'PATCH',
    body: JSON.stringify(body),
    ...(token === undefined ? {} : { headers: plane.headers(token) }),
  });
}

async function egressOf(): Promise<Record<string, unknown> | null> {
  const response = await plane.fetch(`/v1/sandboxes/${sandbox.id}`);
  return ((await response.json()) as { egress: Record<string, unknown> | null }).egress;
}

describe('egress for operators', () => {
  it('shows the effective allow-list on GET', async () => {
    assert.deepEqual(await egressOf(), {
      hosts: ['web.test'],
      include: [],
      ports: [port],
      cidrs: [],
      limits: { connections: 32 },
      ask: false,
      usage: { activeConnections: 0, bytes: 0 },
    });
  });

  it('refuses loopback without a CIDR, as in production', async () => {
    const result = await sh(`curl -sS -i http://web.test:${port}/`);
    assert.match(result.stdout, /^HTTP\/1\.1 403 Forbidden \(sandboxd egress: address-loopback\)/);
    assert.match(result.stdout, /web\.test resolves to 127\.0\.0\.1, a loopback address/);
  });

  it("changes the allow-list at run time with the operator token, never the sandbox's own", async () => {
    const opened = { egress: { hosts: ['web.test'], ports: [port], cidrs: ['127.0.0.1/32'] } };
    const bySandbox = await patch(opened, sandbox.token);
    assert.equal(bySandbox.status, 401);
    const byOperator = await patch(opened);
    assert.equal(byOperator.status, 200, await byOperator.clone().text());
    assert.deepEqual(((await byOperator.json()) as { egress: { cidrs: string[] } }).egress.cidrs, [
      '127.0.0.1/32',
    ]);
    assert.equal((await sh(`curl -sS http://web.test:${port}/`)).stdout, 'reached\n');
    for (const bad of [
      { egress: { hosts: ['*'] } },
      { egress: { hosts: ['web.test'], proxy: 'x' } },
      { network: 'host' },
    ]) {
      assert.equal((await patch(bad)).status, 400, JSON.stringify(bad));
    }
  });

  it('turns egress off and on again: the proxy goes and comes back', async () => {
    assert.equal((await patch({ egress: 'none' })).status, 200);
    assert.equal(await egressOf(), null);
    const off = await sh('env | grep -ic proxy; ls /run/sandboxd | grep -c egress');
    assert.equal(off.stdout, '0\n0\n', 'no proxy variable and no egress socket');
    await patch({ egress: { hosts: ['web.test'], ports: [port], cidrs: ['127.0.0.1/32'] } });
    assert.equal((await sh(`curl -sS http://web.test:${port}/`)).stdout, 'reached\n');
  });

  it('writes one audit line per connection, with exactly the audit record, and counts it in metrics', async () => {
    assert.match(plane.stderr, /SANDBOXD_TEST_HOST_OVERRIDES is set/);
    const lines = plane.stderr
      .split('\n')
      .filter((line) => line.includes('"msg":"egress"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const allowed = lines.find((line) => line.decision === 'allowed');
    const refused = lines.find((line) => line.decision === 'refused');
    for (const line of [allowed, refused]) {
      assert.ok(line);
      const {
        level: _level,
        time: _time,
        pid: _pid,
        hostname: _hostname,
        name: _name,
        msg: _msg,
        ...record
      } = line;
      assert.deepEqual(EgressRecord.strict().parse(record), record);
    }
    assert.equal(allowed?.host, 'web.test');
    assert.ok((allowed?.bytesReceived as number) > 0);
    assert.equal(refused?.rule, 'address-loopback');
    assert.equal(refused?.address, '127.0.0.1');
    const metrics = await (await plane.fetch('/metrics')).text();
    assert.match(metrics, /sandboxd_egress_connections_total\{decision="allowed",rule="host"\} [1-9]/);
    assert.match(
      metrics,
      /sandboxd_egress_connections_total\{decision="refused",rule="address-loopback"\} 1/,
    );
    assert.match(metrics, /sandboxd_egress_bytes_total\{direction="received"\} [1-9]/);
    assert.match(metrics, /sandboxd_egress_setup_seconds_count [1-9]/);
  });
  it('keeps a changed allow-list across a control-plane restart', async () => {
    await client.close();
    await plane.stop();
    await plane.start({
      SANDBOXD_TEST_HOST_OVERRIDES: JSON.stringify({ 'web.test': ['127.0.0.1'] }),
      SANDBOXD_LOG_LEVEL: 'info',
    });
    client = await plane.client(`/s/${sandbox.id}/mcp`, sandbox.token);
    assert.deepEqual((await egressOf())?.cidrs, ['127.0.0.1/32']);
    assert.equal((await sh(`curl -sS http://web.test:${port}/`)).stdout, 'reached\n');
  });
});
