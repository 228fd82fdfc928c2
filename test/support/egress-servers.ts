import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { runServer } from 'verdaccio';

/**
 * Real servers for the egress tests, every one on 127.0.0.1 only: an npm
 * registry (verdaccio, no uplink), a static pip index, git over smart HTTP
 * (git http-backend), and a TLS server. Sandboxes reach them by test names the
 * control plane's name override points at 127.0.0.1.
 */

const run = promisify(execFile);

export async function listen(server: net.Server, host = '127.0.0.1', port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as net.AddressInfo).port;
}

export async function close(server: net.Server): Promise<void> {
  (server as http.Server).closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** An npm package tarball: package/package.json and package/index.js. */
async function packageTarball(manifest: Record<string, unknown>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  pack.entry({ name: 'package/package.json', mode: 0o644 }, JSON.stringify(manifest, null, 2));
  pack.entry(
    { name: 'package/index.js', mode: 0o644 },
    `module.exports = ${JSON.stringify(manifest.name)};\n`,
  );
  pack.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

export interface Registry {
  port: number;
  publish(name: string, version: string, dependencies?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

/** verdaccio with no uplink: it serves only what the test publishes to it (anonymous publish, loopback). */
export async function startRegistry(directory: string): Promise<Registry> {
  const storage = path.join(directory, 'storage');
  await mkdir(storage, { recursive: true });
  const app = (await runServer({
    self_path: directory,
    storage,
    uplinks: {},
    packages: { '**': { access: '$all', publish: '$all', unpublish: '$all' } },
    auth: { htpasswd: { file: path.join(directory, 'htpasswd'), max_users: -1 } },
    log: { type: 'stdout', format: 'json', level: 'fatal' },
    web: { enable: false },
    security: { api: { legacy: true } },
    max_body_size: '10mb',
  } as never)) as unknown as http.Server;
  const port = await listen(app);
  return {
    port,
    async publish(name, version, dependencies = {}) {
      const manifest = { name, version, main: 'index.js', dependencies };
      const tarball = await packageTarball(manifest);
      const file = `${name}-${version}.tgz`;
      const body = {
        _id: name,
        name,
        'dist-tags': { latest: version },
        versions: {
          [version]: {
            ...manifest,
            _id: `${name}@${version}`,
            dist: {
              shasum: createHash('sha1').update(tarball).digest('hex'),
              integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
              tarball: `http://127.0.0.1:${port}/${name}/-/${file}`,
            },
          },
        },
        _attachments: {
          [file]: {
            content_type: 'application/octet-stream',
            data: tarball.toString('base64'),
            length: tarball.length,
          },
        },
      };
      const response = await fetch(`http://127.0.0.1:${port}/${encodeURIComponent(name)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (!response.ok)
        throw new Error(`publish ${name}@${version}: ${response.status} ${await response.text()}`);
    },
    close: () => close(app),
  };
}

/** A pure-Python wheel of one module, built with the host's zip. */
async function buildWheel(directory: string, project: string, version: string): Promise<string> {
  const module = project.replaceAll('-', '_');
  const root = path.join(directory, `${module}-build`);
  const info = `${module}-${version}.dist-info`;
  const files: Record<string, string> = {
    [`${module}/__init__.py`]: `GREETING = "hello from ${project}"\n`,
    [`${info}/METADATA`]: `Metadata-Version: 2.1\nName: ${project}\nVersion: ${version}\n`,
    [`${info}/WHEEL`]:
      'Wheel-Version: 1.0\nGenerator: sandboxd-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  const record: string[] = [];
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), text);
    const digest = createHash('sha256').update(text).digest('base64url');
    record.push(`${name},sha256=${digest},${Buffer.byteLength(text)}`);
  }
  record.push(`${info}/RECORD,,`);
  await writeFile(path.join(root, info, 'RECORD'), `${record.join('\n')}\n`);
  const wheel = path.join(directory, `${module}-${version}-py3-none-any.whl`);
  await run('zip', ['-q', '-r', wheel, module, info], { cwd: root });
  return wheel;
}

/** A static PEP 503 "simple" index serving one wheel per project. */
export async function startPipIndex(
  directory: string,
  projects: string[],
): Promise<{ port: number; close(): Promise<void> }> {
  const wheels = new Map<string, { file: string; bytes: Buffer }>();
  for (const project of projects) {
    const wheel = await buildWheel(directory, project, '1.0.0');
    wheels.set(project, { file: path.basename(wheel), bytes: await readFile(wheel) });
  }
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://index');
    const project = /^\/simple\/([a-z0-9-]+)\/$/.exec(url.pathname)?.[1];
    const wheel = project === undefined ? undefined : wheels.get(project);
    if (wheel !== undefined) {
      const digest = createHash('sha256').update(wheel.bytes).digest('hex');
      response.setHeader('content-type', 'text/html');
      response.end(
        `<html><body><a href="/files/${wheel.file}#sha256=${digest}">${wheel.file}</a></body></html>`,
      );
      return;
    }
    const file = [...wheels.values()].find((entry) => url.pathname === `/files/${entry.file}`);
    if (file !== undefined) {
      response.setHeader('content-type', 'application/octet-stream');
      response.end(file.bytes);
      return;
    }
    response.statusCode = 404;
    response.end('not found');
  });
  const port = await listen(server);
  return { port, close: () => close(server) };
}

/** git http-backend (Debian's git) behind a small CGI bridge: clone and fetch over smart HTTP. */
export async function startGitServer(projectRoot: string): Promise<{ port: number; close(): Promise<void> }> {
  const { stdout } = await run('git', ['--exec-path']);
  const backend = path.join(stdout.trim(), 'git-http-backend');
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://git');
    const child = spawn(backend, [], {
      env: {
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: request.method ?? 'GET',
        CONTENT_TYPE: request.headers['content-type'] ?? '',
        REMOTE_ADDR: '127.0.0.1',
        GATEWAY_INTERFACE: 'CGI/1.1',
        ...(request.headers['git-protocol'] === undefined
          ? {}
          : { GIT_PROTOCOL: String(request.headers['git-protocol']) }),
        ...(request.headers['content-encoding'] === undefined
          ? {}
          : { HTTP_CONTENT_ENCODING: String(request.headers['content-encoding']) }),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    request.pipe(child.stdin);
    // CGI output: header lines, a blank line, then the body.
    let head = Buffer.alloc(0);
    let isBody = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (isBody) {
        response.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      isBody = true;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') response.statusCode = Number.parseInt(value, 10);
        else response.setHeader(name, value);
      }
      response.write(head.subarray(end + 4));
    });
    child.stdout.on('end', () => response.end());
    child.on('error', () => response.destroy());
  });
  const port = await listen(server);
  return { port, close: () => close(server) };
}

/** An HTTPS server for `name` with a self-signed certificate (the host's openssl); its PEM for curl --cacert. */
export async function startTlsServer(
  directory: string,
  name: string,
): Promise<{ port: number; certificate: string; close(): Promise<void> }> {
  const key = path.join(directory, 'tls.key');
  const cert = path.join(directory, 'tls.crt');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name}`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  const certificate = await readFile(cert, 'utf8');
  const server = https.createServer({ key: await readFile(key), cert: certificate }, (request, response) => {
    response.end(`tls ok: ${request.headers.host}\n`);
  });
  const port = await listen(server);
  return { port, certificate, close: () => close(server) };
}
