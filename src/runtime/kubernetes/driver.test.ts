import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { Scratch } from '../../../test/support/cli.ts';
import { loadPolicy } from '../../policy/load.ts';
import { AgentTokens } from '../../sandbox/agent-tokens.ts';
import { SandboxManager } from '../../sandbox/manager.ts';
import { reconcile } from '../../sandbox/reconcile.ts';
import { LABEL_ID, LABEL_MANAGED, LABEL_STATE_DIR } from '../labels.ts';
import { KubeApiError } from './api.ts';
import { KubernetesDriver } from './driver.ts';
import { MemoryKubeApi } from './memory-api.ts';
import { settings, tcpSpecWithFiles } from './test-spec.ts';

const log = pino({ level: 'silent' });
const scratch = new Scratch();
after(() => scratch.clear());

const until = async (condition: () => boolean, what: string) => {
  for (let waited = 0; waited < 2000; waited += 5) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
};

const specIn = tcpSpecWithFiles;

async function driverOver(t: TestContext, api: MemoryKubeApi): Promise<KubernetesDriver> {
  const driver = new KubernetesDriver({ api, settings, log });
  await driver.startWatching();
  t.after(() => driver.close());
  return driver;
}

describe('kubernetes driver (against an in-memory API)', () => {
  it('makes the pod, then its Secret and NetworkPolicy owned by it; deleting the pod takes them', async (t) => {
    const api = new MemoryKubeApi();
    const driver = await driverOver(t, api);
    const spec = await specIn(await scratch.directory('sandboxd-kube-'), 'sb-aaaa');
    const id = await driver.create(spec);
    assert.equal(id, spec.name);
    const uid = api.pods.get(id)?.metadata?.uid;
    const secret = api.secrets.get(`${id}-auth`);
    assert.equal(Buffer.from(secret?.data?.token ?? '', 'base64').toString(), 'token of sb-aaaa');
    assert.equal(secret?.metadata?.ownerReferences?.[0]?.uid, uid);
    assert.equal(api.policies.get(`${id}-net`)?.metadata?.ownerReferences?.[0]?.uid, uid);
    await driver.remove(id);
    assert.equal(api.pods.size + api.secrets.size + api.policies.size, 0);
    await driver.remove(id); // a missing pod is not an error
  });

  it('follows pods through the watch: inspect reads the cache, not the API', async (t) => {
    const api = new MemoryKubeApi();
    const driver = await driverOver(t, api);
    const id = await driver.create(await specIn(await scratch.directory('sandboxd-kube-'), 'sb-bbbb'));
    assert.equal((await driver.inspect(id))?.state, 'created');
    api.setPhase(id, 'Running');
    const readsBefore = api.calls.length;
    assert.equal((await driver.inspect(id))?.state, 'running');
    api.setPhase(id, 'Failed', 137);
    const ended = await driver.inspect(id);
    assert.deepEqual([ended?.state, ended?.exitCode, ended?.isOomKilled], ['exited', 137, true]);
    assert.equal(api.calls.length, readsBefore, 'no API call for inspect');
    assert.equal(
      ended?.labels[LABEL_STATE_DIR]?.startsWith('/'),
      true,
      'labels come whole from the annotations',
    );
  });

  it('lists again when its resource version expired (410), and watches on after a normal end', async (t) => {
    const api = new MemoryKubeApi();
    const driver = await driverOver(t, api);
    const spec = await specIn(await scratch.directory('sandboxd-kube-'), 'sb-cccc');
    api.expire();
    // Made while no watch was open: only a new list can show it.
    api.createPodUnwatched({
      metadata: { name: 'sandboxd-sb-unseen', labels: { [LABEL_MANAGED]: 'true', [LABEL_ID]: 'sb-unseen' } },
    });
    await until(() => api.calls.filter((call) => call === 'list pods').length === 2, 'a second list');
    await until(() => api.calls.at(-1)?.startsWith('watch pods from') === true, 'a new watch');
    assert.equal((await driver.list({ [LABEL_ID]: 'sb-unseen' })).length, 1);
    api.closeWatches();
    await until(
      () => api.calls.filter((call) => call.startsWith('watch pods')).length === 3,
      'a watch after the normal end',
    );
    const id = await driver.create(spec);
    api.setPhase(id, 'Running');
    assert.equal((await driver.inspect(id))?.state, 'running');
  });

  it('replaces a Secret left by an earlier pod of the same name (409), and refuses a second live pod', async (t) => {
    const api = new MemoryKubeApi();
    const driver = await driverOver(t, api);
    const spec = await specIn(await scratch.directory('sandboxd-kube-'), 'sb-dddd');
    await api.createSecret({ metadata: { name: `${spec.name}-auth` }, stringData: { token: 'stale' } });
    await driver.create(spec);
    assert.equal(
      Buffer.from(api.secrets.get(`${spec.name}-auth`)?.data?.token ?? '', 'base64').toString(),
      'token of sb-dddd',
    );
    assert.ok(api.calls.includes(`replace secrets ${spec.name}-auth`));
    await assert.rejects(
      driver.create(spec),
      (error: unknown) => error instanceof KubeApiError && error.status === 409,
    );
  });

  it('stops a pod by deleting it and starts it again from its spec; the claim stays', async (t) => {
    const api = new MemoryKubeApi();
    const driver = await driverOver(t, api);
    const spec = await specIn(await scratch.directory('sandboxd-kube-'), 'sb-eeee');
    const labels = await driver.createVolume('sandboxd-ws-sb-eeee', {
      [LABEL_MANAGED]: 'true',
      [LABEL_ID]: 'sb-eeee',
    });
    assert.deepEqual(
      await driver.createVolume('sandboxd-ws-sb-eeee', { [LABEL_MANAGED]: 'true', [LABEL_ID]: 'other' }),
      labels,
      'an existing claim keeps its labels',
    );
    const id = await driver.create(spec);
    await driver.stop(id, 5);
    assert.equal(await driver.inspect(id), undefined);
    await driver.start(id);
    assert.equal((await driver.inspect(id))?.state, 'created');
    assert.deepEqual(await driver.listVolumes({ [LABEL_ID]: 'sb-eeee' }), ['sandboxd-ws-sb-eeee']);
  });

  it('makes a pod again under RuntimeDefault when its node lacks the profile, and says so', async (t) => {
    const api = new MemoryKubeApi();
    const driver = await driverOver(t, api);
    const id = await driver.create(await specIn(await scratch.directory('sandboxd-kube-'), 'sb-gggg'));
    assert.equal(driver.seccompOf(id), 'policy');
    const firstUid = api.pods.get(id)?.metadata?.uid;
    api.setWaiting(
      id,
      'CreateContainerError',
      'failed to create containerd container: cannot load seccomp profile "/var/lib/kubelet/seccomp/sandboxd-worker.json": open: no such file or directory',
    );
    await until(() => api.pods.get(id)?.metadata?.uid !== firstUid && api.pods.has(id), 'the pod made again');
    assert.deepEqual(api.pods.get(id)?.spec?.securityContext?.seccompProfile, { type: 'RuntimeDefault' });
    await until(() => driver.seccompOf(id) === 'runtime-default', 'the cache to see it');
    // Stopped and started again, it keeps the profile it fell back to.
    await driver.stop(id, 0);
    await driver.start(id);
    assert.deepEqual(api.pods.get(id)?.spec?.securityContext?.seccompProfile, { type: 'RuntimeDefault' });
  });

  it('leaves such a pod failed when the operator allows no fallback', async (t) => {
    const api = new MemoryKubeApi();
    const driver = new KubernetesDriver({ api, settings: { ...settings, seccompFallback: false }, log });
    await driver.startWatching();
    t.after(() => driver.close());
    const id = await driver.create(await specIn(await scratch.directory('sandboxd-kube-'), 'sb-hhhh'));
    const firstUid = api.pods.get(id)?.metadata?.uid;
    api.setWaiting(id, 'CreateContainerError', 'cannot load seccomp profile');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(api.pods.get(id)?.metadata?.uid, firstUid);
    assert.equal(driver.seccompOf(id), 'policy');
  });

  it('reconcile after a restart adopts the running pods of its state directory by their labels', async (t) => {
    const api = new MemoryKubeApi();
    const stateDir = await scratch.directory('sandboxd-kube-state-');
    const first = await driverOver(t, api);
    const id = await first.create(await specIn(stateDir, 'sb-ffff'));
    api.setPhase(id, 'Running');
    await first.create(await specIn(await scratch.directory('sandboxd-kube-other-'), 'sb-9999'));
    first.close();
    const restarted = await driverOver(t, api);
    const manager = new SandboxManager({
      driver: restarted,
      stateDir,
      log,
      dialHome: { address: '10.0.0.1:7070', tokens: new AgentTokens(randomBytes(32)) },
    });
    await manager.init();
    t.after(() => manager.detachAll());
    const adopted = await reconcile(manager, { loadPolicyNamed: (name) => loadPolicy(name) });
    assert.deepEqual(
      adopted.map((sandbox) => [sandbox.id, sandbox.state, sandbox.containerId]),
      [['sb-ffff', 'creating', id]],
    );
  });
});
