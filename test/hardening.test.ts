import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pidsSettings } from '../src/runtime/docker/container-config.ts';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import { DEFAULT_UID_RANGE } from '../src/sandbox/uids.ts';
import { GVISOR_LIMITS, isGvisor, REMOVED_SYSCALLS, skipUnderGvisor } from './support/runtime.ts';
import { TestSandboxes } from './support/sandboxes.ts';

const sandboxes = new TestSandboxes();
let sandbox: Sandbox;

before(async () => {
  await sandboxes.setup();
  sandbox = await sandboxes.create();
});
after(() => sandboxes.teardown());

/** A uid from the range workspace volumes get theirs from: no host account's, never the image's 1000. */
function isSandboxUid(uid: number | undefined): boolean {
  return (
    uid !== undefined &&
    uid >= DEFAULT_UID_RANGE.first &&
    uid < DEFAULT_UID_RANGE.first + DEFAULT_UID_RANGE.count
  );
}

describe('the worker container as the engine sees it', () => {
  it('carries every hardening setting', async () => {
    const info = await sandboxes.driver.docker.getContainer(sandbox.containerId as string).inspect();
    const host = info.HostConfig as typeof info.HostConfig & { CgroupnsMode?: string; Init?: boolean };
    const [uid, gid] = (info.Config.User ?? '').split(':').map(Number);
    assert.ok(isSandboxUid(uid) && gid === uid, `runs as a uid of its own, not ${info.Config.User}`);
    assert.equal(host.ReadonlyRootfs, true);
    assert.equal(host.NetworkMode, 'none');
    assert.deepEqual(host.CapDrop, ['ALL']);
    assert.ok(!host.CapAdd || host.CapAdd.length === 0);
    assert.equal(host.Privileged, false);
    assert.ok(host.SecurityOpt?.includes('no-new-privileges:true'));
    const seccomp = host.SecurityOpt?.find((option: string) => option.startsWith('seccomp='));
    assert.ok(seccomp, 'a seccomp profile is set');
    const profile = JSON.parse(seccomp.slice('seccomp='.length));
    const allowed = new Set(
      profile.syscalls
        .filter((rule: { action: string }) => rule.action === 'SCMP_ACT_ALLOW')
        .flatMap((rule: { names: string[] }) => rule.names),
    );
    for (const name of [
      'io_uring_setup',
      'userfaultfd',
      'keyctl',
      'bpf',
      'perf_event_open',
      'ptrace',
      'unshare',
      'setns',
      'mount',
    ]) {
      assert.ok(!allowed.has(name), `${name} is not allowed by the profile`);
    }
    const policy = sandbox.loaded.policy;
    assert.equal(host.Runtime, policy.runtime);
    const pids = pidsSettings({ runtime: policy.runtime, pidsLimit: policy.resources.pids });
    assert.equal(host.PidsLimit, pids.PidsLimit);
    assert.equal(host.Memory, policy.resources.memory);
    assert.equal(host.MemorySwap, policy.resources.memory);
    assert.equal(host.NanoCpus, policy.resources.cpus * 1e9);
    assert.deepEqual(
      host.Ulimits?.map((limit) => [limit.Name, limit.Soft, limit.Hard]),
      [
        ['nofile', policy.resources.nofile, policy.resources.nofile],
        ['core', 0, 0],
        ...pids.Ulimits.map((limit) => [limit.Name, limit.Soft, limit.Hard]),
      ],
    );
    assert.match(host.Tmpfs?.['/tmp'] ?? '', /nosuid,nodev,size=\d+/);
    assert.match(
      host.Tmpfs?.['/home/sandbox'] ?? '',
      new RegExp(`nosuid,nodev,size=\\d+.*uid=${uid},gid=${uid}$`),
    );
    assert.equal(host.Init, true);
    assert.equal(host.IpcMode, 'private');
    assert.equal(host.PidMode, '');
    assert.equal(host.CgroupnsMode, 'private');
    assert.deepEqual(host.Devices ?? [], []);
    const mounts = info.Mounts.map((mount) => [mount.Destination, mount.Type, mount.RW]).sort();
    assert.deepEqual(mounts, [
      ['/etc/group', 'bind', false],
      ['/etc/passwd', 'bind', false],
      ['/run/sandboxd', 'bind', false],
      ['/workspace', 'volume', true],
    ]);
    const identity = info.Mounts.filter((mount) => mount.Destination.startsWith('/etc/'));
    for (const mount of identity) {
      assert.equal(
        path.dirname(mount.Source),
        `${sandboxes.manager.stateDir}/sockets/${sandbox.id}`,
        'from the socket directory',
      );
    }
    assert.equal(info.Config.Labels['io.sandboxd.managed'], 'true');
    assert.equal(info.Config.Labels['io.sandboxd.id'], sandbox.id);
    assert.equal(info.Config.Labels['io.sandboxd.policy'], 'default');
  });
});

describe('isolation as seen from inside', () => {
  it('runs as its own uid and gid with every capability set empty, no new privileges and seccomp filtering', async () => {
    // prctl(PR_GET_NO_NEW_PRIVS) answers under both runtimes; gVisor prints no NoNewPrivs line.
    const result = await sandboxes.exec(
      sandbox,
      'id -u; id -g; perl -e \'print "NoNewPrivs: ", syscall(157, 39, 0, 0, 0, 0), "\\n"\'; ' +
        'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp):" /proc/self/status',
    );
    assert.equal(result.exit_code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.ok(isSandboxUid(Number(lines[0])), `uid ${lines[0]}`);
    assert.equal(lines[1], lines[0]);
    const status = Object.fromEntries(lines.slice(2).map((line) => line.split(/:\s+/)));
    // gVisor prints no CapAmb line: the ambient set is a subset of the permitted one, empty here.
    const sets = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', ...(isGvisor ? [] : ['CapAmb'])];
    for (const set of sets) {
      assert.equal(status[set], '0000000000000000', `${set} is empty`);
    }
    assert.equal(status.NoNewPrivs, '1');
    assert.equal(status.Seccomp, '2');
  });

  it('has only the loopback interface and no route', async () => {
    const result = await sandboxes.exec(
      sandbox,
      'ls /sys/class/net; echo ---; cat /proc/net/route | tail -n +2',
    );
    const [interfaces, routes] = result.stdout.split('---');
    assert.deepEqual(interfaces?.trim().split('\n'), ['lo']);
    assert.equal(routes?.trim(), '');
  });

  it('cannot write to the root filesystem, /usr or the socket directory', async () => {
    for (const target of ['/probe', '/usr/probe', '/etc/probe', '/run/sandboxd/probe']) {
      const result = await sandboxes.exec(sandbox, `echo x > ${target}`);
      assert.notEqual(result.exit_code, 0, `writing ${target} must fail`);
      assert.match(result.stderr, /Read-only file system|Permission denied/);
    }
  });

  it('cannot remove, replace or shadow the agent socket', async () => {
    const attempts = [
      'rm -f /run/sandboxd/control.sock',
      'mv /run/sandboxd/control.sock /tmp/stolen.sock',
      'ln -sf /tmp/evil /run/sandboxd/control.sock',
      'echo "sandbox::0:0::/root:/bin/bash" >> /etc/passwd',
      'echo x > /run/sandboxd/passwd',
      'python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind(\'/run/sandboxd/evil.sock\')"',
    ];
    for (const attempt of attempts) {
      const result = await sandboxes.exec(sandbox, attempt);
      assert.notEqual(result.exit_code, 0, `${attempt} must fail`);
    }
    const still = await sandboxes.exec(sandbox, 'test -S /run/sandboxd/control.sock && ls /run/sandboxd');
    assert.equal(still.exit_code, 0);
    assert.equal(still.stdout.trim(), 'control.sock\ngroup\npasswd');
    // The link still works after the attempts.
    assert.equal((await sandboxes.exec(sandbox, 'true')).exit_code, 0);
  });

  it('has no setuid or setgid file anywhere', async () => {
    const result = await sandboxes.exec(sandbox, 'find / -xdev -perm /6000 -type f 2>/dev/null; echo done');
    assert.equal(result.stdout.trim(), 'done');
  });

  it('cannot create namespaces, mount, or use the removed syscalls', async () => {
    const unshare = await sandboxes.exec(sandbox, 'unshare -Ur true');
    assert.notEqual(unshare.exit_code, 0);
    const mount = await sandboxes.exec(sandbox, 'mount -t tmpfs none /tmp');
    assert.notEqual(mount.exit_code, 0);
    // Raw syscalls through perl: io_uring_setup, userfaultfd, keyctl, bpf, perf_event_open, unshare, setns.
    for (const [name, number] of Object.entries(REMOVED_SYSCALLS)) {
      const result = await sandboxes.exec(
        sandbox,
        `perl -e '$r = syscall(${number}, 0, 0, 0, 0, 0); print "$r ", $!+0'`,
      );
      const [returned, errno] = result.stdout.trim().split(' ');
      assert.equal(returned, '-1', `${name} fails`);
      assert.equal(errno, '1', `${name} fails with EPERM (got errno ${errno})`);
    }
  });

  it('cannot ptrace the agent', async () => {
    const result = await sandboxes.exec(
      sandbox,
      `perl -e '$r = syscall(101, 16, 1, 0, 0); print "$r ", $!+0'`,
    );
    const [returned, errno] = result.stdout.trim().split(' ');
    assert.equal(returned, '-1');
    assert.equal(errno, '1');
  });

  it('cannot lower its own oom_score_adj', skipUnderGvisor(GVISOR_LIMITS.oomScore), async () => {
    const result = await sandboxes.exec(sandbox, 'echo -500 > /proc/self/oom_score_adj');
    assert.notEqual(result.exit_code, 0);
  });
});
