import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';
import { parseAllDocuments } from 'yaml';
import { RuntimeConfig } from '../src/cli/serve-runtime.ts';
import {
  claimManifest,
  networkPolicyManifest,
  podManifest,
  secretManifest,
} from '../src/runtime/kubernetes/manifests.ts';
import { settings, tcpSpec } from '../src/runtime/kubernetes/test-spec.ts';
import { ROOT } from './support/control-plane.ts';

/**
 * deploy/kubernetes renders with its real tool (kubectl's kustomize), and every
 * object it renders, like every object the driver generates, survives a round
 * trip through the API's own types (@kubernetes/client-node's models) unchanged:
 * a misspelled or misplaced field would be dropped and show up here. kubectl
 * cannot validate offline (`apply --dry-run=client` asks an API server for the
 * schema); test/kubernetes-contract.test.ts does that against a real cluster.
 */

const run = promisify(execFile);

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The client's model name for an object: V1Pod, V1Deployment, V1NetworkPolicy… */
function modelOf(object: KubeObject): string {
  const version = object.apiVersion.split('/').at(-1) ?? '';
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${object.kind}`;
}

function assertRoundTrips(object: KubeObject): void {
  const model = modelOf(object);
  const typed = ObjectSerializer.deserialize(object, model);
  const back = JSON.parse(JSON.stringify(ObjectSerializer.serialize(typed, model)));
  assert.deepEqual(
    back,
    JSON.parse(JSON.stringify(object)),
    `${object.kind}/${object.metadata.name} as ${model}`,
  );
}

async function rendered(): Promise<KubeObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', path.join(ROOT, 'deploy/kubernetes')]);
  return parseAllDocuments(stdout).map((document) => document.toJSON() as KubeObject);
}

describe('deploy/kubernetes', () => {
  it('renders with kubectl kustomize into objects the API types know field by field, all in one namespace', async () => {
    const objects = await rendered();
    const kinds = objects.map((object) => object.kind).sort();
    assert.deepEqual(kinds, [
      'Deployment',
      'LimitRange',
      'Namespace',
      'NetworkPolicy',
      'PersistentVolumeClaim',
      'ResourceQuota',
      'Role',
      'RoleBinding',
      'Service',
      'Service',
      'ServiceAccount',
    ]);
    for (const object of objects) {
      assertRoundTrips(object);
      if (object.kind !== 'Namespace')
        assert.equal(object.metadata.namespace, 'sandboxd', object.metadata.name);
    }
  });

  it('gives the control plane a Role limited to pods, their logs, Secrets, claims and network policies', async () => {
    const objects = await rendered();
    assert.equal(
      objects.filter((object) => object.kind.startsWith('Cluster')).length,
      0,
      'no cluster-wide RBAC',
    );
    const role = objects.find((object) => object.kind === 'Role') as KubeObject & {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    const resources = role.rules.flatMap((rule) => rule.resources).sort();
    assert.deepEqual(resources, ['networkpolicies', 'persistentvolumeclaims', 'pods', 'pods/log', 'secrets']);
    for (const rule of role.rules) {
      assert.ok(!rule.verbs.includes('*') && !rule.resources.includes('*'), 'no wildcards');
      assert.ok(!rule.verbs.includes('patch') && !rule.verbs.includes('deletecollection'));
    }
  });

  it('agrees with the control plane: its pods carry the labels worker policies allow, the agent Service its port', async () => {
    const objects = await rendered();
    const defaults = RuntimeConfig.parse({});
    const deployment = objects.find((object) => object.kind === 'Deployment') as KubeObject & {
      spec: {
        replicas: number;
        template: {
          metadata: { labels: Record<string, string> };
          spec: { containers: { env: { name: string; value?: string }[] }[] };
        };
      };
    };
    assert.equal(deployment.spec.replicas, 1);
    for (const pair of defaults.kubeControlPlaneLabels.split(',')) {
      const [key, value] = pair.split('=');
      assert.equal(deployment.spec.template.metadata.labels[key ?? ''], value);
    }
    const env = Object.fromEntries(
      (deployment.spec.template.spec.containers[0]?.env ?? []).map((variable) => [
        variable.name,
        variable.value,
      ]),
    );
    assert.equal(env.SANDBOXD_RUNTIME_DRIVER, 'kubernetes');
    assert.equal(env.SANDBOXD_KUBE_SECCOMP, defaults.kubeSeccomp);
    const listenPort = Number(env.SANDBOXD_AGENT_LISTEN?.split(':').at(-1));
    const agentService = objects.find(
      (object) => object.kind === 'Service' && object.metadata.name === 'sandboxd-agent',
    ) as KubeObject & { spec: { ports: { port: number }[] } };
    assert.equal(agentService.spec.ports[0]?.port, listenPort);
    assert.match(
      env.SANDBOXD_AGENT_ADDRESS ?? '',
      new RegExp(`^sandboxd-agent\\.sandboxd\\.svc\\.cluster\\.local:${listenPort}$`),
    );
  });

  it("the driver's pod, Secret, NetworkPolicy and claim survive the same round trip", async () => {
    const spec = await tcpSpec();
    const objects = [
      podManifest(spec, settings),
      secretManifest(spec, settings, { token: 'a'.repeat(64), passwd: 'p\n', group: 'g\n' }),
      networkPolicyManifest(spec, settings),
      claimManifest('sandboxd-ws-x', { 'io.sandboxd.managed': 'true' }, settings),
    ];
    for (const object of objects) assertRoundTrips(object as unknown as KubeObject);
  });
});
