import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { close, listen } from '../support/egress-servers.ts';
import { Arena, q, type Tenant } from './arena.ts';

/**
 * Attacks on the door out. The attacker A and a second tenant C run a policy
 * with egress to a few test names; B (the arena's neighbour) has no network.
 * Every server here listens on this host's loopback (127.0.0.1 and 127.0.0.2),
 * and the names reach it only through the control plane's test-only override.
 * 127.0.0.1/32 is the one CIDR the policy opens: 127.0.0.2 stands for every
 * address the policy does not name.
 */

let arena: Arena;
let neighbour: Tenant;
/** The allowed destination (127.0.0.1) and bait listeners that must never see a connection. */
let web: http.Server;
let port: number;
let bait: net.Server;
let baitOther: net.Server;
let otherPort: number;
let baitAccepted = 0;
/** A destination that accepts and holds connections, for the flood. */
let hold: net.Server;
let holdPort: number;
const held: net.Socket[] = [];

const OVERRIDES = {
  'web.test': ['127.0.0.1'],
  'hold.test': ['127.0.0.1'],
  'rebind.test': [['127.0.0.1'], ['127.0.0.2']],
  'metadata.test': ['169.254.169.254'],
};

before(async () => {
  web = http.createServer((_request, response) => response.end('allowed destination\n'));
  port = await listen(web);
  const counting = () =>
    net.createServer((socket) => {
      baitAccepted++;
      socket.destroy();
    });
  // The same port on 127.0.0.2: where a rebinding name would lead.
  bait = counting();
  await listen(bait, '127.0.0.2', port);
  baitOther = counting();
  otherPort = await listen(baitOther);
  hold = net.createServer((socket) => {
    held.push(socket);
    socket.on('error', () => undefined);
  });
  holdPort = await listen(hold);
  arena = await Arena.open({
    env: { SANDBOXD_TEST_HOST_OVERRIDES: JSON.stringify(OVERRIDES) },
    attacker: {
      network: {
        egress: {
          hosts: ['web.test', 'hold.test', 'rebind.test', 'metadata.test'],
          ports: [port, holdPort, 80, 443],
          cidrs: ['127.0.0.1/32'],
          limits: { connections: 4 },
        },
      },
    },
  });
  neighbour = await arena.provision('adversary');
});

after(async () => {
  for (const socket of held) socket.destroy();
  await neighbour?.client.close().catch(() => undefined);
  await arena?.close();
  await Promise.all([web, bait, baitOther, hold].map((server) => server && close(server)));
});

/** One raw proxy request from inside A, in Python (exact bytes, no client normalising the host). */
const RAW_CONNECT = `
import os, socket, sys
proxy = os.environ['HTTP_PROXY'].rsplit(':', 1)
for authority in sys.argv[1:]:
    s = socket.create_connection((proxy[0].split('//')[1], int(proxy[1])), timeout=10)
    s.sendall(b'CONNECT ' + authority.encode() + b' HTTP/1.1\\r\\nHost: ' + authority.encode() + b'\\r\\n\\r\\n')
    reply = s.recv(4096).decode('utf-8', 'replace')
    rule = [l for l in reply.split('\\r\\n') if l.lower().startswith('x-sandboxd-egress-rule')]
    print(authority, reply.split('\\r\\n')[0].split(' ')[1], rule[0].split(': ')[1] if rule else '-')
    s.close()
`;

async function rawConnect(tenant: Tenant, authorities: string[]): Promise<Map<string, string>> {
  const out = await arena.sh(tenant, `python3 - ${authorities.map(q).join(' ')}`, { stdin: RAW_CONNECT });
  return new Map(
    out
      .trim()
      .split('\n')
      .map((line) => {
        const [authority = '', status = '', rule = ''] = line.split(' ');
        return [authority, `${status} ${rule}`];
      }),
  );
}

/** The control plane's audit lines so far. */
function auditLines(): Record<string, unknown>[] {
  return arena.plane.stderr
    .split('\n')
    .filter((line) => line.includes('"msg":"egress"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('adversarial: egress', () => {
  it('a name that rebinds to loopback after the check is refused, never connected', () =>
    arena.case('egress.rebinding', async () => {
      const first = await arena.exec(arena.a, `curl -sS --proxytunnel http://rebind.test:${port}/`);
      assert.equal(first.stdout, 'allowed destination\n', first.stderr);
      const second = await arena.exec(arena.a, `curl -sS -i http://rebind.test:${port}/`);
      assert.match(second.stdout, /^HTTP\/1\.1 403 .*address-loopback/);
      assert.match(second.stdout, /rebind\.test resolves to 127\.0\.0\.2, a loopback address/);
      assert.equal(baitAccepted, 0, 'the rebinding target saw no connection');
      return {
        attempted:
          'rebind.test answers 127.0.0.1 (in the CIDR) at the first lookup, 127.0.0.2 at every later one',
        result: `first request reached 127.0.0.1; second refused (address-loopback); 127.0.0.2 accepted ${baitAccepted}`,
      };
    }));

  it('CONNECT to address literals is refused unless a CIDR names them', () =>
    arena.case('egress.ip-literal', async () => {
      const targets = [
        `127.0.0.2:${port}`,
        '169.254.169.254:80',
        `[::1]:${port}`,
        `[::ffff:127.0.0.2]:${port}`,
        `2130706434:${port}`,
      ];
      const answers = await rawConnect(arena.a, targets);
      for (const target of targets) assert.equal(answers.get(target), '403 ip-literal-not-allowed', target);
      assert.equal(baitAccepted, 0);
      return { attempted: `CONNECT ${targets.join(', ')}`, result: [...answers.values()].join(', ') };
    }));

  it('a cloud metadata address is refused before any connect, and audited', () =>
    arena.case('egress.metadata', async () => {
      const started = performance.now();
      const answers = await rawConnect(arena.a, ['metadata.test:80']);
      const ms = performance.now() - started;
      assert.equal(answers.get('metadata.test:80'), '403 address-metadata');
      const line = auditLines().find((entry) => entry.host === 'metadata.test');
      assert.equal(line?.decision, 'refused');
      assert.equal(line?.address, '169.254.169.254');
      assert.equal(line?.bytesSent, 0);
      return {
        attempted: 'metadata.test (allow-listed) resolving to 169.254.169.254',
        result: `403 address-metadata in ${Math.round(ms)} ms (a connect attempt would have hung for 10 s); audit: ${JSON.stringify(line)}`,
      };
    }));

  it('a port not on the list is refused', () =>
    arena.case('egress.unlisted-port', async () => {
      const answers = await rawConnect(arena.a, [`web.test:${otherPort}`]);
      assert.equal(answers.get(`web.test:${otherPort}`), '403 port-not-allowed');
      assert.equal(baitAccepted, 0);
      return {
        attempted: `CONNECT web.test:${otherPort} (a listener is there)`,
        result: '403 port-not-allowed, nothing accepted',
      };
    }));

  it('a refused host stays refused in every spelling; the allowed one in any spelling is one host', () =>
    arena.case('egress.spelling', async () => {
      const refused = [
        'evil.test:443',
        'EVIL.TEST:443',
        'evil.test.:443',
        'évil.test:443',
        'web.tеst:443',
        'xn--vil-bma.test:443',
        'web.test..:443',
      ];
      const allowed = [`WEB.TEST:${port}`, `web.test.:${port}`, `Web.Test.:${port}`];
      const answers = await rawConnect(arena.a, [...refused, ...allowed]);
      // Node's HTTP parser answers 400 itself to a request line with raw UTF-8 in it.
      for (const target of refused)
        assert.match(answers.get(target) ?? '', /^(403 host-not-allowed|400 invalid-host|400 -)$/, target);
      for (const target of allowed) assert.equal(answers.get(target), '200 -', target);
      return {
        attempted: [...refused, ...allowed].join(', '),
        result: [...answers.entries()].map((e) => e.join(' → ')).join('; '),
      };
    }));

  it('with egress on, /dev/tcp and raw sockets still have no route out', () =>
    arena.case('egress.no-route', async () => {
      const probe = await arena.exec(
        arena.a,
        `(exec 3<>/dev/tcp/127.0.0.1/${port}) 2>&1 | tail -1; ` +
          `python3 -c "import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print('raw socket opened')
except OSError as e: print('raw', e.errno)"; ` +
          'ls /sys/class/net | tr "\\n" " "; tail -n +2 /proc/net/route | wc -l',
      );
      const lines = probe.stdout.trim().split('\n');
      assert.match(lines[0] ?? '', /Connection refused/, probe.stdout);
      assert.equal(lines[1], 'raw 1', 'EPERM: no CAP_NET_RAW');
      assert.equal(lines[2]?.trim(), 'lo 0');
      return {
        attempted: `/dev/tcp/127.0.0.1/${port} (the host's allowed server), a raw ICMP socket, the interfaces and routes`,
        result: lines.join(' | '),
      };
    }));

  it('a tunnel flood hits the limits; a neighbour with egress is unaffected', () =>
    arena.case('egress.flood', async () => {
      const flood = `
import os, socket, threading
proxy = os.environ['HTTP_PROXY'].rsplit(':', 1)
host, port = proxy[0].split('//')[1], int(proxy[1])
results, keep = [], []
def one():
    try:
        s = socket.create_connection((host, port), timeout=20)
        s.sendall(b'CONNECT hold.test:${holdPort} HTTP/1.1\\r\\n\\r\\n')
        results.append(s.recv(200).split(b' ')[1].decode()); keep.append(s)
    except Exception as e:
        results.append(type(e).__name__)
threads = [threading.Thread(target=one) for _ in range(64)]
[t.start() for t in threads]; [t.join() for t in threads]
raw = []
for _ in range(200):
    s = socket.socket(socket.AF_UNIX); s.connect('/run/sandboxd/egress.sock'); raw.append(s)
print(' '.join(sorted(set(r + 'x' + str(results.count(r)) for r in results))))
`;
      const flooding = arena.exec(arena.a, 'python3 -', { stdin: flood, yield_time_ms: 60_000 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const started = performance.now();
      const calm = await arena.exec(neighbour, `curl -sS http://web.test:${port}/`);
      const neighbourMs = Math.round(performance.now() - started);
      assert.equal(calm.stdout, 'allowed destination\n', calm.stderr);
      const out = (await flooding).stdout.trim();
      // Four open (the limit); each of the other 60 refused: by the connection limit (429), or,
      // arriving while 16 others had not sent their request yet, closed unread (the agent's 502).
      const counts = Object.fromEntries(
        out.split(' ').map((entry) => {
          const [status, times] = entry.split('x');
          return [status, Number(times)];
        }),
      );
      assert.equal(counts['200'], 4, out);
      for (const status of Object.keys(counts)) assert.ok(['200', '429', '502'].includes(status), out);
      assert.equal((counts['429'] ?? 0) + (counts['502'] ?? 0), 60, out);
      assert.ok((counts['429'] ?? 0) > 0, out);
      assert.ok(neighbourMs < 5000, `neighbour's request took ${neighbourMs} ms`);
      return {
        attempted: `64 concurrent CONNECTs (limit 4) and 200 silent connections to egress.sock from A; C fetches meanwhile`,
        result: `A: ${out}; C's request took ${neighbourMs} ms`,
      };
    }));

  it('a rogue agent forging tunnel requests chooses nothing but host and port', () =>
    arena.case('egress.forged-header', async () => {
      const forge = `
import json, socket, sys
def ask(raw):
    s = socket.socket(socket.AF_UNIX); s.connect('/run/sandboxd/egress.sock'); s.settimeout(10)
    try:
        s.sendall(raw)
    except OSError:
        pass
    try:
        reply = s.recv(4096).split(b'\\n')[0]
        print(json.loads(reply).get('rule', 'ok') if reply else 'closed')
    except Exception as e:
        print(type(e).__name__)
ask(json.dumps({'host': 'web.test', 'port': ${port}, 'address': '127.0.0.2'}).encode() + b'\\n')
ask(json.dumps({'host': '127.0.0.2', 'port': ${port}}).encode() + b'\\n')
ask(json.dumps({'host': 'evil.test', 'port': 443}).encode() + b'\\n')
ask(b'{"host": "' + b'a' * 100000 + b'"}\\n')
ask(b'\\x00\\xff garbage\\n')
ask(json.dumps({'host': 'web.test', 'port': ${port}}).encode() + b'\\nGET / HTTP/1.0\\r\\n\\r\\n')
`;
      const out = await arena.sh(arena.a, 'python3 -', { stdin: forge });
      const lines = out.trim().split('\n');
      assert.deepEqual(lines, [
        'invalid-request',
        'ip-literal-not-allowed',
        'host-not-allowed',
        'invalid-request',
        'invalid-request',
        'ok',
      ]);
      const write = await arena.exec(
        arena.a,
        'touch /run/sandboxd/x 2>&1; rm -f /run/sandboxd/egress.sock 2>&1; ls /run/sandboxd',
      );
      // The sandbox's own uid owns nothing there: the kernel may say EACCES before EROFS.
      assert.match(write.stdout, /Read-only file system|Permission denied/);
      assert.doesNotMatch(write.stdout, /(^|\n)x(\n|$)/, 'nothing was created');
      assert.match(write.stdout, /egress\.sock/);
      assert.equal(baitAccepted, 0);
      return {
        attempted:
          'forged requests straight to egress.sock: an extra address field, an address literal, an unlisted host, 100 kB, garbage; writes to /run/sandboxd',
        result: `${lines.join(', ')}; socket directory read-only; 127.0.0.2 accepted ${baitAccepted}`,
      };
    }));
});
