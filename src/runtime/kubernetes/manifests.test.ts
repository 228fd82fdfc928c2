import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadPolicy } from '../../policy/load.ts';
import { SANDBOX_HOME } from '../../sandbox/container-spec.ts';
import { LABEL_ID, LABEL_MANAGED, LABEL_SOCKET_DIR } from '../labels.ts';
import {
  claimManifest,
  isLabelValue,
  networkPolicyManifest,
  podManifest,
  secretManifest,
} from './manifests.ts';
import { settings, tcpSpec } from './test-spec.ts';

describe('pod manifests', () => {
  it('carry the hardening the Docker driver applies, in pod terms', async () => {
    const spec = await tcpSpec();
    const pod = podManifest(spec, settings);
    const podSpec = pod.spec;
    assert.ok(podSpec);
    const container = podSpec.containers[0];
    assert.ok(container);
    assert.equal(podSpec.automountServiceAccountToken, false);
    assert.equal(podSpec.enableServiceLinks, false);
    assert.equal(podSpec.hostNetwork, false);
    assert.equal(podSpec.hostPID, false);
    assert.equal(podSpec.hostIPC, false);
    assert.equal(podSpec.restartPolicy, 'Never');
    assert.deepEqual(podSpec.securityContext?.seccompProfile, {
      type: 'Localhost',
      localhostProfile: 'sandboxd-worker.json',
    });
    assert.equal(podSpec.securityContext?.runAsNonRoot, true);
    assert.equal(podSpec.securityContext?.runAsUser, 100_123);
    assert.equal(podSpec.securityContext?.runAsGroup, 100_123);
    assert.deepEqual(container.securityContext, {
      runAsNonRoot: true,
      runAsUser: 100_123,
      runAsGroup: 100_123,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    // No host paths: the workspace is a claim, the rest memory or the Secret.
    for (const volume of podSpec.volumes ?? []) assert.equal(volume.hostPath, undefined, volume.name);
    assert.equal(podSpec.runtimeClassName, undefined);
    assert.deepEqual(podSpec.hostAliases, [{ ip: '10.96.0.20', hostnames: ['sandboxd-agent.sandboxd.svc'] }]);
    assert.equal(podSpec.dnsPolicy, 'None');
  });

  it('take requests and limits, and memory-backed /tmp and $HOME, from the policy', async () => {
    const loaded = await loadPolicy('default');
    const spec = await tcpSpec();
    const pod = podManifest(spec, settings);
    const container = pod.spec?.containers[0];
    const expected = {
      cpu: `${Math.round(loaded.policy.resources.cpus * 1000)}m`,
      memory: String(loaded.policy.resources.memory),
    };
    assert.deepEqual(container?.resources, { requests: expected, limits: expected });
    const mounts = Object.fromEntries(
      (container?.volumeMounts ?? []).map((mount) => [mount.mountPath, mount.name]),
    );
    const volumes = Object.fromEntries((pod.spec?.volumes ?? []).map((volume) => [volume.name, volume]));
    assert.deepEqual(volumes[mounts['/tmp'] ?? '']?.emptyDir, {
      medium: 'Memory',
      sizeLimit: String(loaded.policy.tmpfs.tmp),
    });
    assert.deepEqual(volumes[mounts[SANDBOX_HOME] ?? '']?.emptyDir, {
      medium: 'Memory',
      sizeLimit: String(loaded.policy.tmpfs.home),
    });
    assert.deepEqual(volumes[mounts['/workspace'] ?? '']?.persistentVolumeClaim, {
      claimName: 'sandboxd-ws-sb-0123456789ab',
    });
    assert.equal(
      container?.env?.find((env) => env.name === 'SANDBOXD_CONTROL_ADDRESS')?.value,
      'sandboxd-agent.sandboxd.svc:7070',
    );
  });

  it('run gVisor policies under the RuntimeClass, and say RuntimeDefault only when told the nodes lack the profile', async () => {
    const pod = podManifest(await tcpSpec('sb-runsc', 'runsc'), {
      ...settings,
      seccomp: { kind: 'runtime-default' },
    });
    assert.equal(pod.spec?.runtimeClassName, 'gvisor');
    assert.deepEqual(pod.spec?.securityContext?.seccompProfile, { type: 'RuntimeDefault' });
  });

  it('select by the labels that are label values and keep every label whole as an annotation', async () => {
    const spec = await tcpSpec();
    const pod = podManifest(spec, settings);
    assert.equal(pod.metadata?.labels?.[LABEL_MANAGED], 'true');
    assert.equal(pod.metadata?.labels?.[LABEL_ID], 'sb-0123456789ab');
    assert.equal(pod.metadata?.labels?.[LABEL_SOCKET_DIR], undefined, 'a path is no label value');
    assert.equal(pod.metadata?.annotations?.[LABEL_SOCKET_DIR], '/var/lib/sandboxd/sockets/sb-0123456789ab');
    assert.equal(isLabelValue('2026-01-01T00:00:00.000Z'), false);
    assert.equal(isLabelValue('sb-1'), true);
  });

  it('refuse a host folder and a worker without an address to dial', async () => {
    const spec = await tcpSpec();
    assert.throws(
      () => podManifest({ ...spec, workspace: { kind: 'bind', hostPath: '/srv/repo' } }, settings),
      /host folder/,
    );
    const { dialHome: _dialHome, ...withoutDial } = spec;
    assert.throws(() => podManifest(withoutDial, settings), /dial home over TCP/);
  });

  it('give the Secret the token and identity, and deny all but the agent port in the NetworkPolicy', async () => {
    const spec = await tcpSpec();
    const secret = secretManifest(spec, settings, { token: 'a'.repeat(64), passwd: 'p\n', group: 'g\n' });
    assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['group', 'passwd', 'token']);
    assert.equal(Buffer.from(secret.data?.token ?? '', 'base64').toString(), 'a'.repeat(64));
    const policy = networkPolicyManifest(spec, settings);
    assert.deepEqual(policy.spec?.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(policy.spec?.ingress, []);
    assert.deepEqual(policy.spec?.egress, [
      {
        to: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'sandboxd' } } }],
        ports: [{ protocol: 'TCP', port: 7070 }],
      },
    ]);
    assert.deepEqual(policy.spec?.podSelector?.matchLabels, {
      [LABEL_MANAGED]: 'true',
      [LABEL_ID]: 'sb-0123456789ab',
    });
    const claim = claimManifest('sandboxd-ws-x', { [LABEL_MANAGED]: 'true' }, settings);
    assert.deepEqual(claim.spec?.resources?.requests, { storage: '10Gi' });
  });
});
