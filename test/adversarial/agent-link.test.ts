import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION } from '../../src/protocol/agent-api.ts';
import { Arena, codeOf, tally } from './arena.ts';

/**
 * The agent link as a target: a workload that stops its own agent and speaks
 * for it on the sandbox's socket, trying to stall or bloat the one control
 * plane every tenant shares. Its own arena, so the RSS it measures belongs to
 * this case alone.
 */

let arena: Arena;
before(async () => {
  arena = await Arena.open();
});
after(() => arena?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How long the rogue floods, and how long B is measured without it just before:
 * long enough for every attack to come round (see DIAL_BURST in agent-link.ts).
 */
const PHASE_SECONDS = 5;
/** B calls read_file every this often in both phases: the same load, so the same heap growth. */
const B_PACE_MS = 10;
/**
 * How much the control plane's RSS may grow from the quiet phase to the flood:
 * what the link can be made to hold for one sandbox (one reply line and the
 * unsent requests, MAX_LINE_BYTES each: 64 MiB), plus the heap growth the
 * measuring traffic causes in a second phase by itself (+42 MiB at most, with
 * no rogue at all). Today's main grows by 1.3 GiB.
 */
const MAX_RSS_GROWTH_KIB = 128 * 1024;

/**
 * The rogue, run as a command in A: SIGSTOP the real agent, then dial the
 * socket again and again, say a valid hello, answer configure, and attack:
 * a 30 MiB line, endless notifications (the real agent sends none after
 * hello), a 30 MiB reply to a pending read_file, replies nested 200 000 deep or
 * with 300 000 elements, a reply to a request never made. A refused dial is
 * retried after 5 ms: a sandbox spinning on its CPU share is the noisy-neighbour
 * benchmark's subject, not this one's. SIGCONT at the end gives A back.
 */
const ROGUE = String.raw`
import json, os, signal, socket, sys, time
P = '/run/sandboxd/control.sock'
DEADLINE = time.time() + float(sys.argv[1])
log = lambda *a: print(*a, flush=True)
agents = []
for d in os.listdir('/proc'):
    try:
        if d.isdigit() and open('/proc/%s/cmdline' % d, 'rb').read().startswith(b'node\0/opt/sandboxd/agent.mjs'):
            agents.append(int(d))
    except OSError:
        pass
for pid in agents: os.kill(pid, signal.SIGSTOP)
log('stopped-agent', agents)
HELLO = (json.dumps({'jsonrpc': '2.0', 'method': 'hello', 'params': {'protocolVersion': ${PROTOCOL_VERSION},
    'agentVersion': 'rogue', 'pid': 4242, 'uid': 0, 'gid': 0, 'activeCommands': 0}}) + '\n').encode()
MIB = 1024 * 1024
def line(obj): return (json.dumps(obj) + '\n').encode()
def pour(s, data, times):
    for _ in range(times):
        if time.time() > DEADLINE: return
        s.sendall(data)
def next_request(s, f, wait):
    s.settimeout(wait)
    try:
        got = f.readline()
    except socket.timeout:
        return None
    finally:
        s.settimeout(None)
    if not got: raise ConnectionError('closed')
    return json.loads(got)
answered = set()
def answer(s, f, body):
    request = next_request(s, f, 1.0)
    if request: answered.add(label)
    s.sendall(body(request['id'] if request else 987654))
attacks = [
    ('30MiB-line', lambda s, f: pour(s, b'[' * MIB, 30) or s.sendall(b'\n')),
    ('notifications', lambda s, f: pour(s, line({'jsonrpc': '2.0', 'method': 'log', 'params': {'x': 1}}) * 2000, 100000)),
    ('30MiB-reply', lambda s, f: answer(s, f, lambda rid: ('{"jsonrpc":"2.0","id":%d,"result":{"summary":"x","result":{"content":"' % rid).encode() + b'x' * (30 * MIB) + b'"}}}\n')),
    ('deep-reply', lambda s, f: answer(s, f, lambda rid: ('{"jsonrpc":"2.0","id":%d,"result":' % rid).encode() + b'[' * 200000 + b']' * 200000 + b'}\n')),
    ('wide-reply', lambda s, f: answer(s, f, lambda rid: ('{"jsonrpc":"2.0","id":%d,"result":{"summary":"x","result":{"a":[' % rid).encode() + b'0,' * 300000 + b'0]}}}\n')),
    ('unknown-id', lambda s, f: pour(s, line({'jsonrpc': '2.0', 'id': 987654, 'result': {}}), 100000)),
]
outcomes = {}
refused = cycles = 0
while time.time() < DEADLINE:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(P)
    except OSError:
        refused += 1; s.close(); time.sleep(0.005); continue
    label, attack = attacks[cycles % len(attacks)]
    cycles += 1
    f = s.makefile('rb')
    try:
        s.sendall(HELLO)
        configure = next_request(s, f, 5.0)
        if configure is None: raise ConnectionError('no configure')
        s.sendall(line({'jsonrpc': '2.0', 'id': configure['id'], 'result': {}}))
        attack(s, f)
        s.settimeout(5.0)
        while s.recv(1 << 16) != b'':
            pass
        fate = 'closed'
    except socket.timeout:
        fate = 'still-open'
    except (OSError, ConnectionError, ValueError) as e:
        fate = 'closed' if isinstance(e, (ConnectionError, BrokenPipeError)) else type(e).__name__
    outcomes.setdefault(label, []).append(fate)
    s.close()
for pid in agents: os.kill(pid, signal.SIGCONT)
log('cycles', cycles, 'refused-dials', refused)
for label, _ in attacks:
    fates = outcomes.get(label, [])
    log('attack', label, ' '.join('%s×%d' % (x, fates.count(x)) for x in sorted(set(fates))) or 'never-tried')
log('answered-requests', ' '.join(sorted(answered)) or 'none')
`;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

describe('adversarial: the agent link', () => {
  it("a rogue flooding its sandbox's socket does not stall the neighbour or bloat the control plane", () =>
    arena.case('link.flood', async () => {
      const readB = async (): Promise<number> => {
        const started = performance.now();
        const read = await arena.call(arena.b, 'read_file', { path: arena.neighbourFile }, 60_000);
        assert.equal(read.content, arena.neighbourContent, JSON.stringify(read).slice(0, 300));
        return performance.now() - started;
      };
      let peakRssKiB = 0;
      let sampling = true;
      const sampleRss = (async () => {
        while (sampling) {
          peakRssKiB = Math.max(peakRssKiB, await arena.controlPlaneRssKiB().catch(() => 0));
          await sleep(50);
        }
      })();
      const measureB = async (until: number): Promise<number[]> => {
        const samples: number[] = [];
        while (Date.now() < until) {
          samples.push(await readB());
          await sleep(B_PACE_MS);
        }
        return samples;
      };

      await measureB(Date.now() + 1000); // warm up B's session and the code it runs
      peakRssKiB = 0;
      const quiet = await measureB(Date.now() + PHASE_SECONDS * 1000);
      const quietPeakKiB = peakRssKiB;

      const logStart = arena.plane.stderr.length;
      const rogue = await arena.exec(arena.a, ['python3', '-', String(PHASE_SECONDS)], {
        stdin: ROGUE,
        yield_time_ms: 0,
        timeout_ms: (PHASE_SECONDS + 60) * 1000,
      });
      assert.equal(rogue.status, 'running', JSON.stringify(rogue));
      peakRssKiB = 0;
      const floodEnds = Date.now() + PHASE_SECONDS * 1000;
      // A's own client keeps calling, so the rogue has requests to answer with hostile replies.
      const aCodes: string[] = [];
      const aCalls = (async () => {
        while (Date.now() < floodEnds) {
          const result = await arena
            .call(arena.a, 'read_file', { path: 'nothing-here' }, 30_000)
            .catch((error: Error) => ({
              ok: false,
              error: { code: `THROWN ${error.message.slice(0, 40)}` },
            }));
          aCodes.push(codeOf(result as never));
          await sleep(100);
        }
      })();
      const flood = await measureB(floodEnds);
      await aCalls;
      const floodPeakKiB = peakRssKiB;
      sampling = false;
      await sampleRss;

      // The rogue resumed the real agent; A is served again once it has redialled.
      let back = '';
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const probe = await arena
          .call(arena.a, 'read_file', { path: 'nothing-here' }, 10_000)
          .catch(() => undefined);
        if (probe !== undefined && codeOf(probe) === 'NOT_FOUND') {
          back = 'A served again';
          break;
        }
        await sleep(250);
      }
      const log = await arena.call(arena.a, 'write_stdin', {
        command_id: rogue.command_id,
        chars: '',
        yield_time_ms: 30_000,
      });

      const warnings = arena.plane.stderr
        .slice(logStart)
        .split('\n')
        .filter((line) => line.includes('"level":40') && line.includes(`"sandboxId":"${arena.a.id}"`));
      const quietP50 = percentile(quiet, 50);
      const floodP50 = percentile(flood, 50);
      const figures =
        `B read_file p50 quiet ${ms(quietP50)} over ${quiet.length} calls (p95 ${ms(percentile(quiet, 95))}, max ${ms(Math.max(...quiet))}), ` +
        `flood ${ms(floodP50)} over ${flood.length} calls (p95 ${ms(percentile(flood, 95))}, max ${ms(Math.max(...flood))}); ` +
        `control plane peak RSS quiet ${mib(quietPeakKiB)}, flood ${mib(floodPeakKiB)}; ${warnings.length} warnings about A logged`;
      console.log(`# ${figures}`);
      console.log(
        `# rogue: ${String(log.stdout ?? '')
          .trim()
          .replace(/\n/g, '; ')}`,
      );
      assert.equal(back, 'A served again', 'the real agent took A back after the flood');
      assert.equal(log.status, 'exited', JSON.stringify(log).slice(0, 500));
      const fates = String(log.stdout).match(/^attack .*$/gm) ?? [];
      assert.equal(fates.length, 6, String(log.stdout));
      for (const fate of fates)
        assert.match(fate, /^attack \S+ closed×\d+$/, 'every attack got its connection dropped');
      assert.ok(warnings.length <= 10, `warnings about one sandbox are rate-limited: ${warnings.join('\n')}`);
      assert.ok(
        floodP50 <= 2 * quietP50,
        `B's read_file p50 under the flood is within 2× of quiet: ${figures}`,
      );
      assert.ok(
        floodPeakKiB <= quietPeakKiB + MAX_RSS_GROWTH_KIB,
        `the control plane's RSS grows by at most ${mib(MAX_RSS_GROWTH_KIB)}: ${figures}`,
      );
      return {
        attempted: `from a command in A: SIGSTOP A's agent, then for ${PHASE_SECONDS} s dial /run/sandboxd/control.sock, say a valid hello, answer configure, and send a 30 MiB line, endless notifications, a 30 MiB reply to a pending read_file, a reply nested 200 000 deep, one with 300 000 elements, replies to an unknown id; while A's client keeps calling read_file`,
        result: `${figures}; rogue: ${String(log.stdout ?? '')
          .trim()
          .replace(/\n/g, '; ')}; A's calls meanwhile: ${tally(aCodes)}; ${back}`,
      };
    }));
});
