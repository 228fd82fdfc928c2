import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerSpec } from '../driver.ts';
import { containerConfig, RUNSC_HOST_TASKS_PER_TASK } from './container-config.ts';

const spec: ContainerSpec = {
  name: 'sandboxd-sb-1',
  image: 'sandboxd-worker:latest',
  labels: { 'io.sandboxd.managed': 'true' },
  user: { uid: 1000, gid: 1000 },
  env: { HOME: '/home/sandbox' },
  workingDir: '/workspace',
  runtime: 'runc',
  nanoCpus: 1e9,
  memoryBytes: 1024 ** 3,
  pidsLimit: 256,
  nofile: 4096,
  tmpfs: [{ target: '/tmp', sizeBytes: 1024, mode: '1777' }],
  seccompProfile: '{"defaultAction":"SCMP_ACT_ERRNO"}',
  workspace: { kind: 'volume', name: 'sandboxd-ws-sb-1' },
  socketDir: '/var/lib/sandboxd/sockets/sb-1',
  hostname: 'sandbox',
};

describe('containerConfig', () => {
  it('applies the hardening no spec can turn off', () => {
    const config = containerConfig(spec);
    const host = config.HostConfig ?? {};
    assert.equal(config.User, '1000:1000');
    assert.equal(config.NetworkDisabled, true);
    assert.equal(host.NetworkMode, 'none');
    assert.equal(host.ReadonlyRootfs, true);
    assert.deepEqual(host.CapDrop, ['ALL']);
    assert.equal(host.Privileged, false);
    assert.equal(host.Init, true);
    assert.deepEqual(host.SecurityOpt, ['no-new-privileges:true', `seccomp=${spec.seccompProfile}`]);
    assert.equal(host.Memory, host.MemorySwap);
    assert.equal(host.CpuShares, 512);
    assert.deepEqual(host.Devices, []);
    assert.match(host.Tmpfs?.['/tmp'] ?? '', /^rw,exec,nosuid,nodev,size=1024,mode=1777$/);
  });

  it('mounts only the workspace and the socket directory, the latter read-only', () => {
    const mounts = containerConfig({ ...spec, workspace: { kind: 'bind', hostPath: '/srv/repo' } }).HostConfig
      ?.Mounts;
    assert.deepEqual(
      mounts?.map((mount) => [mount.Type, mount.Source, mount.Target, mount.ReadOnly]),
      [
        ['bind', '/srv/repo', '/workspace', false],
        ['bind', '/var/lib/sandboxd/sockets/sb-1', '/run/sandboxd', true],
      ],
    );
  });

  it('replaces the command only when the spec says so', () => {
    assert.equal(containerConfig(spec).Cmd, undefined);
    assert.deepEqual(containerConfig({ ...spec, command: ['sleep', '1'] }).Cmd, ['sleep', '1']);
  });

  it('holds the pids limit in the pids cgroup under runc', () => {
    const host = containerConfig(spec).HostConfig ?? {};
    assert.equal(host.PidsLimit, 256);
    assert.deepEqual(
      host.Ulimits?.map((limit) => limit.Name),
      ['nofile', 'core'],
    );
  });

  it("holds it in RLIMIT_NPROC under runsc, and gives gVisor's own host tasks room", () => {
    const host = containerConfig({ ...spec, runtime: 'runsc' }).HostConfig ?? {};
    assert.equal(host.Runtime, 'runsc');
    assert.equal(host.PidsLimit, 256 * RUNSC_HOST_TASKS_PER_TASK);
    assert.deepEqual(host.Ulimits?.at(-1), { Name: 'nproc', Soft: 256, Hard: 256 });
  });
});
