import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import { pino } from 'pino';
import { EgressGate } from '../src/egress/gate.ts';
import { agentLimits } from '../src/policy/derived.ts';
import type { LoadedPolicy } from '../src/policy/load.ts';
import type { ToolReply } from '../src/protocol/agent-api.ts';
import {
  claimManifest,
  type PodSettings,
  podManifest,
  secretManifest,
} from '../src/runtime/kubernetes/manifests.ts';
import { tcpSpecFor } from '../src/runtime/kubernetes/test-spec.ts';
import { LABEL_ID, managedLabels } from '../src/runtime/labels.ts';
import { AgentLink } from '../src/sandbox/agent-link.ts';
import { AgentPort, type Doors } from '../src/sandbox/agent-port.ts';
import { AgentTokens } from '../src/sandbox/agent-tokens.ts';
import { identityFiles, writeIdentityFiles } from '../src/sandbox/identity.ts';
import { PreviewDoor } from '../src/sandbox/preview-door.ts';
import { Scratch } from './support/cli.ts';
import { loadTestPolicy, REMOVED_SYSCALLS } from './support/runtime.ts';
import type { ExecResult } from './support/sandboxes.ts';

/**
 * The pod the Kubernetes driver generates, run for real by Podman's `kube play`
 * (no API server can be installed here). The real agent inside dials home over
 * TCP to an agent port on the gateway of an internal Podman network, and the
 * checks test/hardening.test.ts makes on Docker are made again from inside.
 *
 * Podman is not a kubelet; where it differs the test says so:
 * - Podman 4.3 ignores `subPath` on Secret volumes (it mounts the whole volume
 *   over /etc/passwd and runc refuses), so the two identity mounts are left out
 *   here; the unit tests check them.
 * - It has no NetworkPolicy; the internal network stands in for it (no route out).
 * - It backs `emptyDir: {medium: Memory}` with disk, not tmpfs, and copies the
 *   image's directory into it with its owner (the image's $HOME is uid 1000's,
 *   not writable by the tenant uid); a kubelet makes an empty 0777 directory.
 * - It writes the base64 of a Secret's values into the files (a 64-byte token
 *   became an 88-byte file) and ignores `stringData`; the test hands it the token
 *   so that what it writes is the token (see where the Secret is made).
 */

const run = promisify(execFile);
const scratch = new Scratch();
const log = pino({ level: process.env.SANDBOXD_TEST_LOG ?? 'silent' }, pino.destination(2));
const runId = randomBytes(4).toString('hex');
const network = `sandboxd-test-pod-${runId}`;
const sandboxId = `sb-pod-${runId}`;
const claim = `sandboxd-ws-${sandboxId}`;
const user = { uid: 100_777, gid: 100_777 };
let skipReason: string | false = false;
let manifestFile = '';
let link: AgentLink | undefined;
let gate: EgressGate | undefined;
let agentPort: AgentPort | undefined;
let doors: Doors | undefined;
let pod: V1Pod;

async function hasPodman(): Promise<boolean> {
  try {
    await run('podman', ['--version']);
    return true;
  } catch {
    return false;
  }
}

/** The worker image, copied from Docker's store into Podman's unless it is there already. */
async function loadImage(image: string): Promise<void> {
  const { stdout: dockerId } = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', image]);
  const podmanId = await run('podman', ['image', 'inspect', '--format', '{{.Id}}', image]).then(
    (result) => `sha256:${result.stdout.trim()}`,
    () => '',
  );
  if (podmanId === dockerId.trim()) return;
  await new Promise<void>((resolve, reject) => {
    const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'inherit'] });
    const load = spawn('podman', ['load', '-q'], { stdio: ['pipe', 'ignore', 'inherit'] });
    save.stdout.pipe(load.stdin);
    load.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`podman load exited with ${code}`)),
    );
  });
}

before(async () => {
  if (!(await hasPodman())) {
    skipReason = 'podman is not installed (scripts/host-programs.txt lists it; scripts/test.sh installs it)';
    return;
  }
  const loaded: LoadedPolicy = await loadTestPolicy('default');
  if (loaded.policy.runtime !== 'runc') {
    skipReason = 'Podman runs this pod under runc only (no gVisor RuntimeClass here)';
    return;
  }
  await loadImage(loaded.policy.image);
  // An internal network: no route out, as a NetworkPolicy allowing only the agent port would leave.
  // Netavark gives an internal network no gateway unless told one: the host's address on it.
  const octet = 100 + Math.floor(Math.random() * 100);
  const gateway = `10.89.${octet}.1`;
  await run('podman', [
    'network',
    'create',
    '--internal',
    '--disable-dns',
    '--subnet',
    `10.89.${octet}.0/24`,
    '--gateway',
    gateway,
    network,
  ]);
  // The gateway's address exists only once the pod is on the network: a port picked at random.
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const stateDir = await scratch.directory('sandboxd-pod-state-');
  const socketDir = path.join(stateDir, 'sockets', sandboxId);
  await mkdir(socketDir, { recursive: true });
  const tokens = new AgentTokens(randomBytes(32));
  await writeFile(path.join(socketDir, 'token'), tokens.tokenFor(sandboxId));
  await writeIdentityFiles(socketDir, user);
  const spec = await tcpSpecFor({ id: sandboxId, stateDir, user, address: `${gateway}:${port}`, loaded });
  const seccompRoot = await scratch.directory('sandboxd-pod-seccomp-');
  await writeFile(path.join(seccompRoot, 'sandboxd-worker.json'), loaded.seccompProfile);
  const settings: PodSettings = {
    namespace: 'sandboxd',
    seccomp: { kind: 'localhost', profile: 'sandboxd-worker.json' },
    gvisorRuntimeClass: 'gvisor',
    controlPlaneLabels: { 'app.kubernetes.io/name': 'sandboxd' },
    agentPort: port,
    seccompFallback: false,
    workspaceSize: '1Gi',
  };
  pod = podManifest(spec, settings);
  const played = structuredClone(pod);
  const container = played.spec?.containers[0];
  assert.ok(container?.volumeMounts && played.spec?.volumes);
  // Podman 4.3 cannot mount one file of a Secret volume (see above).
  container.volumeMounts = container.volumeMounts.filter((mount) => mount.subPath === undefined);
  played.spec.volumes = played.spec.volumes.filter((volume) => volume.name !== 'identity');
  const secret = secretManifest(spec, settings, {
    token: tokens.tokenFor(sandboxId),
    ...identityFiles(user),
  });
  // Podman writes base64(value) into the file (see above). A hex token is valid base64 text
  // itself, so handing Podman the token as its encoded value makes the file hold the token.
  secret.data = { token: tokens.tokenFor(sandboxId) };
  const documents = [
    secret,
    claimManifest(claim, { ...managedLabels, [LABEL_ID]: sandboxId }, settings),
    played,
  ];
  manifestFile = path.join(await scratch.directory('sandboxd-pod-yaml-'), 'pod.yaml');
  // JSON is YAML.
  await writeFile(manifestFile, documents.map((document) => JSON.stringify(document)).join('\n---\n'));
  await run('podman', [
    'kube',
    'play',
    '--network',
    network,
    '--seccomp-profile-root',
    seccompRoot,
    manifestFile,
  ]);
  // The bridge exists once a pod is on it; the agent retries until the port listens.
  link = new AgentLink({ sandboxId, socketDir, limits: agentLimits(loaded.policy), log, transport: 'tcp' });
  await link.listen();
  gate = new EgressGate({
    sandboxId,
    socketDir,
    allowList: null,
    lookup: async () => [],
    log,
    transport: 'tcp',
  });
  const preview = new PreviewDoor({
    sandboxId,
    socketDir,
    link,
    log,
    limits: loaded.policy.preview,
    transport: 'tcp',
  });
  doors = { link, egress: gate, preview };
  agentPort = new AgentPort({
    host: gateway,
    port,
    tokens,
    log,
    doors: (id) => (id === sandboxId ? doors : undefined),
  });
  await agentPort.listen();
  try {
    await link.waitReady(30_000);
  } catch (error) {
    const logs = await run('podman', ['logs', `${pod.metadata?.name}-worker`]).then(
      (result) => `${result.stdout}${result.stderr}`,
      (failure: unknown) => String(failure),
    );
    throw new Error(`${(error as Error).message}; the worker's log:\n${logs}`);
  }
});

after(async () => {
  await link?.close();
  await gate?.close();
  await doors?.preview.close();
  await agentPort?.close();
  if (manifestFile !== '')
    await run('podman', ['kube', 'play', '--down', manifestFile]).catch(() => undefined);
  // kube play --down leaves the claim and the volume it made for the Secret.
  const secretVolume = `${pod?.metadata?.name}-auth`;
  await run('podman', ['volume', 'rm', '-f', claim, secretVolume]).catch(() => undefined);
  await run('podman', ['secret', 'rm', secretVolume]).catch(() => undefined);
  await run('podman', ['network', 'rm', '-f', network]).catch(() => undefined);
  await scratch.clear();
});

async function sh(cmd: string): Promise<ExecResult> {
  assert.ok(link);
  const reply: ToolReply = await link.call(
    'tool',
    { name: 'exec_command', input: { cmd, yield_time_ms: 30_000 } },
    { timeoutMs: 60_000 },
  );
  return reply.result as unknown as ExecResult;
}

describe('the generated pod under podman kube play', () => {
  it('starts the real agent, which dials home over TCP with its Secret token', (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.equal(link?.isReady, true);
    assert.equal(link?.hello?.uid, user.uid);
    assert.equal(link?.hello?.gid, user.gid);
  });

  it('runs as the tenant uid with every capability set empty, no new privileges and seccomp filtering', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const result = await sh(
      'id -u; id -g; perl -e \'print "NoNewPrivs: ", syscall(157, 39, 0, 0, 0, 0), "\\n"\'; ' +
        'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp):" /proc/self/status',
    );
    assert.equal(result.exit_code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), [String(user.uid), String(user.gid)]);
    const status = Object.fromEntries(lines.slice(2).map((line) => line.split(/:\s+/)));
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
      assert.equal(status[set], '0000000000000000', `${set} is empty`);
    }
    assert.equal(status.NoNewPrivs, '1');
    assert.equal(status.Seccomp, '2');
  });

  it('filters with our profile, not the runtime default: the removed syscalls fail with EPERM', async (t) => {
    if (skipReason) return t.skip(skipReason);
    // Podman's default lets unshare(0) succeed and answers io_uring_setup with ENOSYS (measured).
    for (const [name, number] of Object.entries(REMOVED_SYSCALLS)) {
      const result = await sh(`perl -e '$r = syscall(${number}, 0, 0, 0, 0, 0); print "$r ", $!+0'`);
      assert.equal(result.stdout.trim(), '-1 1', `${name} fails with EPERM`);
    }
  });

  it('has a read-only root, a writable workspace claim and /tmp, and no setuid file', async (t) => {
    if (skipReason) return t.skip(skipReason);
    for (const target of ['/probe', '/usr/probe', '/etc/probe', '/run/sandboxd-auth/probe']) {
      const result = await sh(`echo x > ${target}`);
      assert.notEqual(result.exit_code, 0, `writing ${target} must fail`);
      assert.match(result.stderr, /Read-only file system|Permission denied/);
    }
    const writable = await sh('echo x > /workspace/a && echo x > /tmp/b && echo ok');
    assert.equal(writable.stdout.trim(), 'ok', writable.stderr);
    const setuid = await sh('find / -xdev -perm /6000 -type f 2>/dev/null; echo done');
    assert.equal(setuid.stdout.trim(), 'done');
  });

  it('reads its token from the read-only Secret mount and has no route out', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const token = await sh('wc -c < /run/sandboxd-auth/token; rm -f /run/sandboxd-auth/token; echo $?');
    assert.deepEqual(token.stdout.trim().split('\n'), ['64', '1']);
    // No default route (destination 00000000) on the internal network.
    const routes = await sh("awk 'NR > 1 { print $2 }' /proc/net/route");
    assert.doesNotMatch(routes.stdout, /^00000000$/m, routes.stdout);
  });

  it('has an init as PID 1 (the shared process namespace), reaping what the agent leaves', async (t) => {
    if (skipReason) return t.skip(skipReason);
    assert.equal(pod.spec?.shareProcessNamespace, true);
    const result = await sh('cat /proc/1/cmdline | tr "\\0" " "');
    assert.match(result.stdout, /catatonit|pause/);
  });
});
