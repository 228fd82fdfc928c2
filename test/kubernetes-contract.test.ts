import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { statusOf } from '../src/runtime/kubernetes/api.ts';
import { KubernetesDriver } from '../src/runtime/kubernetes/driver.ts';
import { kubeApi } from '../src/runtime/kubernetes/kube-api.ts';
import { settings, tcpSpecWithFiles } from '../src/runtime/kubernetes/test-spec.ts';
import { LABEL_ID, managedLabels } from '../src/runtime/labels.ts';
import { Scratch } from './support/cli.ts';
import { ROOT } from './support/control-plane.ts';

/**
 * The Kubernetes driver against a real API server: only where KUBECONFIG names
 * one (no API server can be installed on the machine the other tests run on).
 * It works in SANDBOXD_TEST_NAMESPACE (default sandboxd-contract), which must
 * exist; nothing it makes is left behind. The pods never connect (nothing
 * listens for them): the contract is the API's, not the agent's.
 */

const run = promisify(execFile);
const skip = process.env.KUBECONFIG ? false : 'KUBECONFIG is not set: these run against a real cluster only';
const namespace = process.env.SANDBOXD_TEST_NAMESPACE ?? 'sandboxd-contract';
const scratch = new Scratch();
const log = pino({ level: 'silent' });
after(() => scratch.clear());

describe('kubernetes driver against a real cluster', { skip }, () => {
  const config = new KubeConfig();
  let driver: KubernetesDriver;
  const id = `sb-contract-${randomBytes(3).toString('hex')}`;
  const volume = `sandboxd-ws-${id}`;

  after(async () => {
    await driver?.remove(await podName()).catch(() => undefined);
    await driver?.removeVolume(volume).catch(() => undefined);
    driver?.close();
  });

  async function podName(): Promise<string> {
    const [found] = (await driver.list({ [LABEL_ID]: id })).map((info) => info.id);
    return found ?? '';
  }

  it('server-side dry-run accepts deploy/kubernetes', async () => {
    const { stdout } = await run('kubectl', ['kustomize', path.join(ROOT, 'deploy/kubernetes')]);
    const child = execFile('kubectl', ['apply', '--dry-run=server', '-f', '-']);
    child.stdin?.end(stdout);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0);
  });

  it('creates a claim, a pod with its Secret and NetworkPolicy, sees it through the watch, and removes it all', async () => {
    config.loadFromDefault();
    driver = new KubernetesDriver({
      api: kubeApi(config, namespace),
      settings: { ...settings, namespace },
      log,
    });
    await driver.startWatching();
    await driver.createVolume(volume, { ...managedLabels, [LABEL_ID]: id });
    const stateDir = await scratch.directory('sandboxd-contract-');
    const spec = await tcpSpecWithFiles(stateDir, id);
    const name = await driver.create(spec);
    const core = config.makeApiClient(CoreV1Api);
    const networking = config.makeApiClient(NetworkingV1Api);
    await core.readNamespacedSecret({ namespace, name: `${name}-auth` });
    await networking.readNamespacedNetworkPolicy({ namespace, name: `${name}-net` });
    for (let waited = 0; (await driver.inspect(name)) === undefined && waited < 10_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await driver.inspect(name))?.labels[LABEL_ID], id);
    await driver.remove(name);
    await driver.removeVolume(volume);
    // Gone, or going (a claim's protection finalizer holds it until its pod is gone).
    const claim = await kubeApi(config, namespace)
      .readClaim(volume)
      .catch((error: unknown) => (statusOf(error) === 404 ? undefined : Promise.reject(error)));
    assert.ok(claim === undefined || claim.metadata?.deletionTimestamp !== undefined);
  });
});
