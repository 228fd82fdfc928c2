import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { EgressGate } from '../egress/gate.ts';
import { overrideLookup } from '../egress/resolve.ts';
import { EgressSection } from '../policy/egress.ts';
import { unixDialer } from './dial.ts';
import { EgressProxy } from './egress-proxy.ts';
import { commandEnv, setEgressProxy } from './exec/env.ts';

/** The agent's proxy in front of a real gate; the only destination is an HTTP server on 127.0.0.1. */
let directory: string;
let origin: http.Server;
let originPort: number;
let gate: EgressGate;
let proxy: EgressProxy;
let proxyUrl: string | undefined;

before(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-proxy-'));
  origin = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      response.setHeader('x-seen-host', request.headers.host ?? '');
      response.setHeader('x-seen-proxy-header', String(request.headers['proxy-authorization'] ?? ''));
      response.end(`${request.method} ${request.url} ${body}`);
    });
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as net.AddressInfo).port;
  gate = new EgressGate({
    sandboxId: 'sb-proxy',
    socketDir: directory,
    allowList: {
      ...EgressSection.parse({ hosts: ['registry.test'], ports: [originPort], cidrs: ['127.0.0.1/32'] }),
    },
    lookup: overrideLookup({ 'registry.test': ['127.0.0.1'] }, async () => assert.fail('no other lookups')),
    log: pino({ level: 'silent' }),
  });
  await gate.listen();
  proxy = new EgressProxy({
    dialer: unixDialer(directory),
    log: () => undefined,
    onChange: (url) => {
      proxyUrl = url;
      setEgressProxy(url);
    },
  });
  await proxy.setEnabled(true);
});

after(async () => {
  await proxy.setEnabled(false);
  await gate.close();
  await new Promise<void>((resolve) => origin.close(() => resolve()));
  await rm(directory, { recursive: true, force: true });
});

const proxyPort = () => Number(new URL(proxyUrl ?? '').port);

/** A CONNECT through the proxy, then one HTTP/1.0 request inside the tunnel; the raw text that came back. */
function connectThenGet(authority: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxyPort(), '127.0.0.1');
    let text = '';
    let isOpen = false;
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (!isOpen && text.startsWith('HTTP/1.1 200')) {
        isOpen = true;
        socket.write('GET /inside HTTP/1.0\r\nHost: registry.test\r\n\r\n');
      }
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

function viaProxy(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      const request = http.request({
        host: '127.0.0.1',
        port: proxyPort(),
        method: init.method ?? 'GET',
        path: url,
        // As a client of a proxy sends it: the Host of the destination.
        headers: { host: URL.canParse(url) ? new URL(url).host : 'registry.test', ...init.headers },
      });
      request.on('response', (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      });
      request.on('error', reject);
      request.end(init.body);
    },
  );
}

describe('agent egress proxy', () => {
  it('listens on loopback only, and tells the command environment', () => {
    assert.match(proxyUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    const env = commandEnv(undefined, { home: '/home/sandbox', isTty: false });
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) {
      assert.equal(env[name], proxyUrl, name);
    }
    assert.equal(env.NODE_USE_ENV_PROXY, '1');
    assert.equal(env.npm_config_https_proxy, proxyUrl);
    assert.equal(env.PIP_PROXY, proxyUrl);
    assert.match(env.NO_PROXY ?? '', /localhost,127\.0\.0\.1/);
    assert.equal(
      commandEnv({ HTTPS_PROXY: 'http://mine' }, { home: '/h', isTty: false }).HTTPS_PROXY,
      'http://mine',
    );
  });

  it('tunnels CONNECT to an allowed host', async () => {
    const text = await connectThenGet(`registry.test:${originPort}`);
    assert.match(text, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 OK/);
    assert.match(text, /GET \/inside $/);
  });

  it('answers a refused CONNECT with a 403 that names the rule', async () => {
    const text = await connectThenGet('evil.test:443');
    assert.match(text, /^HTTP\/1\.1 403 Forbidden \(sandboxd egress: host-not-allowed\)\r\n/);
    assert.match(text, /X-Sandboxd-Egress-Rule: host-not-allowed/);
    assert.match(text, /CONNECT evil\.test:443 refused \(rule host-not-allowed\)/);
    assert.match(text, /evil\.test is not on this sandbox's egress allow-list/);
    const port = await connectThenGet('registry.test:8443');
    assert.match(port, /403[\s\S]*rule port-not-allowed/);
    const literal = await connectThenGet('[::ffff:169.254.169.254]:80');
    assert.match(literal, /403[\s\S]*rule ip-literal-not-allowed/);
  });

  it('forwards plain HTTP, without hop-by-hop or proxy headers', async () => {
    const response = await viaProxy(`http://registry.test:${originPort}/path?q=1`, {
      method: 'POST',
      body: 'payload',
      headers: { 'proxy-authorization': 'Basic secret', connection: 'keep-alive, x-drop', 'x-drop': '1' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.body, 'POST /path?q=1 payload');
    assert.equal(response.headers['x-seen-host'], `registry.test:${originPort}`);
    assert.equal(response.headers['x-seen-proxy-header'], '');
  });

  it('answers a refused plain request with a 403 body naming the rule', async () => {
    const response = await viaProxy('http://evil.test/');
    assert.equal(response.status, 403);
    assert.equal(response.headers['x-sandboxd-egress-rule'], 'host-not-allowed');
    assert.match(response.body, /GET http:\/\/evil\.test\/ refused \(rule host-not-allowed\)/);
    const origin = await viaProxy('/not-absolute');
    assert.equal(origin.status, 400);
  });
});
