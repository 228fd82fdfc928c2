import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseServeConfig } from './serve.ts';
import { podSettings } from './serve-runtime.ts';
import { UsageError } from './usage.ts';

const env = { SANDBOXD_STATE_DIR: '/var/lib/sandboxd-test' };

describe('serve: runtime driver and agent port configuration', () => {
  it('runs on Docker with socket directories by default', () => {
    const config = parseServeConfig([], env);
    assert.equal(config.runtimeDriver, 'docker');
    assert.equal(config.agentListen, undefined);
  });

  it('refuses the kubernetes driver without an agent port, and a Docker agent port without its network', () => {
    assert.throws(() => parseServeConfig(['--runtime-driver', 'kubernetes'], env), UsageError);
    assert.throws(() => parseServeConfig(['--agent-listen', '172.18.0.1:7070'], env), /--agent-network/);
    assert.throws(() => parseServeConfig(['--agent-listen', 'nowhere'], env), /host:port/);
    assert.throws(
      () =>
        parseServeConfig(['--agent-listen', '172.18.0.1:7070', '--agent-network', 'n'], {
          ...env,
          SANDBOXD_AGENT_TLS_CERT: '/c.pem',
        }),
      /TLS/,
    );
  });

  it('takes the kubernetes settings from flags and the environment', async () => {
    const config = parseServeConfig(
      [
        '--runtime-driver',
        'kubernetes',
        '--agent-listen',
        '0.0.0.0:7070',
        '--agent-address',
        '10.96.0.20:7070',
      ],
      {
        ...env,
        SANDBOXD_NAMESPACE: 'tenants',
        SANDBOXD_KUBE_SECCOMP: 'runtime-default',
        SANDBOXD_KUBE_SECCOMP_FALLBACK: '0',
      },
    );
    const settings = await podSettings(config);
    assert.equal(settings.namespace, 'tenants');
    assert.equal(settings.agentPort, 7070);
    assert.deepEqual(settings.seccomp, { kind: 'runtime-default' });
    assert.equal(settings.seccompFallback, false);
    assert.equal(settings.hostAlias, undefined, 'an address needs no /etc/hosts entry');
    assert.deepEqual(settings.controlPlaneLabels, { 'app.kubernetes.io/name': 'sandboxd' });
    const named = await podSettings({
      ...config,
      agentAddress: 'localhost:7070',
      kubeSeccomp: 'localhost/p.json',
    });
    assert.equal(named.hostAlias?.hostname, 'localhost');
    assert.match(named.hostAlias?.ip ?? '', /^(127\.0\.0\.1|::1)$/);
    assert.deepEqual(named.seccomp, { kind: 'localhost', profile: 'p.json' });
  });
});
