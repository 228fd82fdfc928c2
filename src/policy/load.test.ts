import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadPolicy, PolicyError } from './load.ts';
import { packageRoot } from './package-files.ts';

let directory: string;

before(async () => {
  directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-policies-'));
  await cp(path.join(packageRoot(), 'policies/seccomp'), path.join(directory, 'seccomp'), {
    recursive: true,
  });
});
after(() => rm(directory, { recursive: true, force: true }));

async function loadText(name: string, text: string) {
  await writeFile(path.join(directory, `${name}.yaml`), text);
  return loadPolicy(name, directory);
}

async function failure(name: string, text: string): Promise<string> {
  try {
    await loadText(name, text);
  } catch (error) {
    assert.ok(error instanceof PolicyError, String(error));
    return error.message;
  }
  assert.fail('the policy was accepted');
}

describe('loadPolicy', () => {
  it('loads every shipped policy', async () => {
    for (const name of ['default', 'ci', 'ci-gvisor']) {
      const loaded = await loadPolicy(name);
      assert.equal(loaded.policy.name, name);
      assert.equal(loaded.policy.network, 'none');
      assert.ok(JSON.parse(loaded.seccompProfile).syscalls.length > 0);
    }
  });

  it('fills defaults and converts units', async () => {
    const { policy } = await loadText(
      'units',
      'name: units\nresources:\n  memory: 512MiB\ntimeouts:\n  idle: 90s\n',
    );
    assert.equal(policy.resources.memory, 512 * 1024 * 1024);
    assert.equal(policy.timeouts.idle, 90_000);
    assert.equal(policy.resources.pids, 512);
    assert.equal(policy.runtime, 'runc');
  });

  it('names the file, the field and the problem', async () => {
    const message = await failure('badsize', 'name: badsize\nresources:\n  memory: lots\n');
    assert.match(message, /badsize\.yaml: resources\.memory: expected a size like 512MiB/);
    assert.match(
      await failure('typo', 'name: typo\nresources:\n  cpu: 2\n'),
      /typo\.yaml: resources: unknown field\(s\) cpu/,
    );
    assert.match(await failure('net', 'name: net\nnetwork: host\n'), /net\.yaml: network: /);
    assert.match(await failure('runtime', 'name: runtime\nruntime: kata\n'), /runtime\.yaml: runtime: /);
    assert.match(await failure('yaml', 'name: [unclosed\n'), /yaml\.yaml: not valid YAML/);
    assert.match(
      await failure('seccomp', 'name: seccomp\nseccomp:\n  profile: missing.json\n'),
      /seccomp\.profile: cannot load/,
    );
    await assert.rejects(loadPolicy('absent', directory), /absent\.yaml: cannot read the policy \(ENOENT\)/);
  });

  it('gives each runtime its seccomp profile when the policy names none', async () => {
    const runc = await loadText('plain', 'name: plain\n');
    assert.equal(runc.policy.seccomp.profile, 'sandboxd.json');
    const runsc = await loadText('gvisor', 'name: gvisor\nruntime: runsc\n');
    assert.equal(runsc.policy.seccomp.profile, 'sandboxd-gvisor.json');
    const clone3 = JSON.parse(runsc.seccompProfile).syscalls.find((rule: { names: string[] }) =>
      rule.names.includes('clone3'),
    );
    assert.equal(clone3.action, 'SCMP_ACT_ALLOW');
  });

  it('refuses a seccomp profile that does not suit the runtime, and names the one that does', async () => {
    assert.match(
      await failure('runcgvisor', 'name: runcgvisor\nseccomp:\n  profile: sandboxd-gvisor.json\n'),
      /runcgvisor\.yaml: seccomp\.profile: sandboxd-gvisor\.json allows clone3.*use sandboxd\.json \(runtime: runc\)/,
    );
    assert.match(
      await failure('runscplain', 'name: runscplain\nruntime: runsc\nseccomp:\n  profile: sandboxd.json\n'),
      /runscplain\.yaml: seccomp\.profile: sandboxd\.json refuses clone3.*use sandboxd-gvisor\.json \(runtime: runsc\)/,
    );
  });

  it('refuses a policy name that is not a plain name', async () => {
    await assert.rejects(loadPolicy('Bad Name', directory), PolicyError);
  });
});
