import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isGvisor } from '../support/runtime.ts';
import { Arena } from './arena.ts';

/**
 * Network escapes. Every probe aims only at loopback addresses (127.0.0.0/8, ::1)
 * or at Unix sockets of this machine: if isolation were broken, nothing would
 * leave the host.
 */

let arena: Arena;
before(async () => {
  arena = await Arena.open();
});
after(() => arena?.close());

/** A TCP connect from inside A, in Python; prints one word per target: connected or the errno name. */
const CONNECT = `
import errno, socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(':', 1)
    host = host.strip('[]')
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, int(port)))
        print(target, 'connected')
    except OSError as e:
        print(target, errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__)
    finally:
        s.close()
`;

/** A listener on this host's loopback that counts the connections it accepts. */
async function countingListener(
  options: { port?: number; path?: string } = {},
): Promise<{ server: net.Server; accepted: () => number; port: number }> {
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (options.path !== undefined) server.listen(options.path, resolve);
    else server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const address = server.address();
  return {
    server,
    accepted: () => accepted,
    port: typeof address === 'object' && address !== null ? address.port : 0,
  };
}

/** Connects from the host to 127.0.0.1:port; resolves with 'connected' or the error code. */
function hostConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, timeout: 3000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('ETIMEDOUT');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('adversarial: network', () => {
  it('has only lo and no route', () =>
    arena.case('net.interfaces', async () => {
      const out = await arena.sh(
        arena.a,
        'ls /sys/class/net | tr "\\n" " "; echo "|"; tail -n +2 /proc/net/route | wc -l; tail -n +2 /proc/net/ipv6_route 2>/dev/null | grep -v " lo$" | wc -l',
      );
      const [interfaces, routes, routes6] = out.split(/\|\n|\n/).map((part) => part.trim());
      assert.equal(interfaces, 'lo');
      assert.equal(routes, '0', 'no IPv4 route');
      assert.equal(routes6, '0', 'no IPv6 route beyond lo');
      return {
        attempted: 'list /sys/class/net, /proc/net/route and /proc/net/ipv6_route',
        result: `interfaces: ${interfaces}; IPv4 routes: ${routes}; IPv6 routes off lo: ${routes6}`,
      };
    }));

  it('cannot reach the control plane or any listener on the host loopback', () =>
    arena.case('net.host-loopback', async () => {
      const port = new URL(arena.plane.baseUrl).port;
      const bait = await countingListener();
      try {
        const targets = [
          `127.0.0.1:${port}`,
          `127.0.0.2:${port}`,
          `[::1]:${port}`,
          `127.0.0.1:${bait.port}`,
          `[::ffff:127.0.0.1]:${bait.port}`,
        ];
        // The attacker knows the port: the control plane's URL is no secret.
        const result = await arena.exec(arena.a, ['python3', '-c', CONNECT, ...targets]);
        const lines = result.stdout.trim().split('\n');
        assert.equal(lines.length, targets.length, result.stderr);
        for (const line of lines) assert.doesNotMatch(line, /connected$/, line);
        assert.equal(bait.accepted(), 0, 'the host listener accepted nothing');
        // Sanity: the same listener does accept from the host itself.
        assert.equal(await hostConnect(bait.port), 'connected');
        return {
          attempted: `TCP connect from A to the control plane port ${port} and a host listener on 127.0.0.1:${bait.port} via 127.0.0.1, 127.0.0.2, ::1, ::ffff:127.0.0.1`,
          result: `${lines.join(', ')}; host listener accepted ${bait.accepted() - 1} from A (1 from the host itself)`,
        };
      } finally {
        bait.server.close();
      }
    }));

  it('cannot reach an abstract Unix socket of the host', () =>
    arena.case('net.abstract-unix', async () => {
      const name = `sandboxd-adv-${randomBytes(6).toString('hex')}`;
      const bait = await countingListener({ path: `\0${name}` });
      try {
        const code = `
import socket, errno
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect('\\0${name}')
    print('connected')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e)))
`;
        const out = (await arena.sh(arena.a, 'python3 -', { stdin: code })).trim();
        assert.notEqual(out, 'connected');
        // What Unix sockets A can see at all: its own network namespace only.
        const visible =
          (
            await arena.sh(
              arena.a,
              "awk 'NR>1 && $8 != \"\" {print $8}' /proc/net/unix | sort -u | tr '\\n' ' '",
            )
          ).trim() || 'nothing';
        assert.ok(!visible.includes(name), 'the host abstract socket is not listed');
        assert.equal(bait.accepted(), 0);
        return {
          attempted: `connect from A to an abstract Unix socket @${name} the test listens on in the host's network namespace`,
          result: `${out}; host listener accepted ${bait.accepted()}; A's /proc/net/unix names only ${visible} — RESIDUAL (information): the accepted end of the agent socket carries its host path, so A learns the control plane's state directory`,
        };
      } finally {
        bait.server.close();
      }
    }));

  it('cannot resolve names', () =>
    arena.case('net.dns', async () => {
      // Only the container's own loopback could be asked: prove there is no other resolver first.
      const conf = await arena.sh(arena.a, 'grep -h "^nameserver" /etc/resolv.conf 2>/dev/null || true');
      assert.equal(conf.trim(), '', `no nameserver is configured (found: ${conf.trim()})`);
      const code = `
import socket
for name in ['sandboxd-adversarial.invalid', 'localhost.invalid']:
    try:
        print(name, socket.getaddrinfo(name, 80))
    except socket.gaierror as e:
        print(name, 'gaierror', e.errno)
`;
      const out = (await arena.sh(arena.a, 'python3 -', { stdin: code })).trim();
      for (const line of out.split('\n')) assert.match(line, / gaierror -?\d+$/, line);
      const getent = await arena.exec(arena.a, 'getent ahosts sandboxd-adversarial.invalid; echo "exit $?"');
      assert.match(getent.stdout, /exit 2/);
      return {
        attempted: 'getaddrinfo and getent for .invalid names (no nameserver line in /etc/resolv.conf)',
        result: `${out.replace(/\n/g, '; ')}; getent ${getent.stdout.trim()}`,
      };
    }));

  it('refuses raw and packet sockets and interface changes', () =>
    arena.case('net.raw-sockets', async () => {
      const code = `
import errno, fcntl, socket, struct
def attempt(label, make):
    try:
        s = make()
        print(label, 'CREATED')
        s.close()
    except OSError as e:
        print(label, errno.errorcode.get(e.errno, str(e)))
attempt('AF_INET/SOCK_RAW', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
attempt('AF_INET6/SOCK_RAW', lambda: socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6))
attempt('AF_INET/SOCK_RAW/TCP', lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP))
attempt('AF_PACKET/SOCK_RAW', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)))
attempt('AF_PACKET/SOCK_DGRAM', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3)))
def set_lo_address():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifreq = struct.pack('16sH2s4s8s', b'lo', socket.AF_INET, b'\\0\\0', socket.inet_aton('127.0.0.9'), b'\\0' * 8)
    try:
        fcntl.ioctl(s, 0x8916, ifreq)  # SIOCSIFADDR
        return s
    finally:
        s.close()
attempt('SIOCSIFADDR lo', set_lo_address)
`;
      const out = (await arena.sh(arena.a, 'python3 -', { stdin: code })).trim();
      for (const line of out.split('\n')) {
        // gVisor has no SIOCSIFADDR at all: ENOTTY, and lo keeps its address just the same.
        const refusal = isGvisor && line.startsWith('SIOCSIFADDR') ? / ENOTTY$/ : / EPERM$/;
        assert.match(line, refusal, line);
      }
      return {
        attempted:
          'python3 socket(AF_INET/AF_INET6, SOCK_RAW), socket(AF_PACKET, SOCK_RAW/SOCK_DGRAM), ioctl SIOCSIFADDR on lo',
        result: out.replace(/\n/g, '; '),
      };
    }));

  it('a port bound inside cannot be reached from the host', () =>
    arena.case('net.inbound', async () => {
      // A port nothing on the host listens on: the probe must fail for the right reason.
      const free = await countingListener();
      const port = free.port;
      await new Promise((resolve) => free.server.close(resolve));
      assert.notEqual(await hostConnect(port), 'connected', 'nothing listens on the host at the chosen port');
      const server = `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', ${port}))
s.listen(16)
print('listening', flush=True)
s.settimeout(8)
try:
    while True:
        c, peer = s.accept()
        print('accepted', peer, flush=True)
        c.close()
except socket.timeout:
    pass
`;
      const started = await arena.exec(arena.a, 'python3 -', {
        stdin: server,
        yield_time_ms: 1500,
        timeout_ms: 20_000,
      });
      assert.equal(started.status, 'running', `server: ${started.stderr}`);
      assert.match(started.stdout, /listening/);
      // The listener is really up: a connect from inside A reaches it.
      const inside = await arena.exec(arena.a, ['python3', '-c', CONNECT, `127.0.0.1:${port}`]);
      assert.match(inside.stdout, /connected/);
      const fromHost = await hostConnect(port);
      assert.notEqual(fromHost, 'connected');
      const killed = await arena.call(arena.a, 'kill_command', {
        command_id: started.command_id,
        wait_ms: 500,
      });
      const log = String((killed as { stdout?: string }).stdout ?? '');
      return {
        attempted: `python3 in A listens on 0.0.0.0:${port}; the test connects to 127.0.0.1:${port} from the host`,
        result: `from A itself: ${inside.stdout.trim()}; from the host: ${fromHost}; A's listener accepted ${
          (log.match(/accepted/g) ?? []).length
        } connection(s) (the one from inside A)`,
      };
    }));
});
