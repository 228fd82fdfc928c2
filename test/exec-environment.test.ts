import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CheckExecEnvironmentTool, type ExecEnvironment } from '../src/protocol/tools/info.ts';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import { DEFAULT_UID_RANGE } from '../src/sandbox/uids.ts';
import { TestSandboxes } from './support/sandboxes.ts';

const sandboxes = new TestSandboxes();
let sandbox: Sandbox;
let environment: ExecEnvironment;
let summary: string;

before(async () => {
  await sandboxes.setup();
  sandbox = await sandboxes.create();
  const reply = await sandbox.callTool('check_exec_environment', {});
  environment = CheckExecEnvironmentTool.output.parse(reply.result);
  summary = reply.summary;
});
after(() => sandboxes.teardown());

describe('check_exec_environment inside the worker container', () => {
  it('reports every isolation flag as in force', () => {
    assert.deepEqual(environment.summary_flags, {
      is_non_root: true,
      has_no_capabilities: true,
      has_no_new_privs: true,
      is_seccomp_filtered: true,
      has_no_network: true,
      is_root_read_only: true,
    });
    assert.match(summary, /is_root_read_only: true/);
  });

  it('runs as the sandbox user with empty capability sets and a seccomp filter', () => {
    assert.ok((environment.user.uid ?? 0) >= DEFAULT_UID_RANGE.first, "the workspace volume's own uid");
    assert.equal(environment.user.gid, environment.user.uid);
    assert.equal(environment.user.name, 'sandbox', 'the uid has a name (the mounted /etc/passwd)');
    for (const set of Object.values(environment.capabilities)) {
      assert.equal(set?.hex, '0000000000000000');
      assert.deepEqual(set?.names, []);
    }
    assert.equal(environment.seccomp.mode_name, 'filter');
    assert.ok((environment.seccomp.filters ?? 0) >= 1);
  });

  it('sees only loopback and no route out', () => {
    assert.deepEqual(environment.network.interfaces, [{ name: 'lo', is_loopback: true }]);
    assert.equal(environment.network.ipv4_routes, 0);
    assert.equal(environment.network.has_default_route, false);
  });

  it('cannot write to / or /usr, and sees the sandbox mounts as built', () => {
    for (const probe of environment.filesystem.write_probes) {
      assert.equal(probe.is_writable, false, probe.path);
      assert.equal(probe.errno, 'EROFS', probe.path);
    }
    const byRole = new Map(environment.filesystem.mounts.map((mount) => [mount.role, mount]));
    assert.equal(byRole.get('workspace')?.mount_point, '/workspace');
    assert.equal(byRole.get('workspace')?.is_read_only, false);
    assert.equal(byRole.get('socket_dir')?.mount_point, '/run/sandboxd');
    assert.equal(byRole.get('socket_dir')?.is_read_only, true);
    const tmpfs = sandbox.loaded.policy.tmpfs;
    for (const [role, size] of [
      ['tmp', tmpfs.tmp],
      ['home', tmpfs.home],
    ] as const) {
      const mount = byRole.get(role);
      assert.equal(mount?.fstype, 'tmpfs', role);
      assert.equal(mount?.is_nosuid, true, role);
      assert.equal(mount?.is_nodev, true, role);
      assert.equal(mount?.capacity_bytes, size, role);
    }
  });

  it("reports the policy's limits from the cgroup and the rlimits", () => {
    const { resources } = sandbox.loaded.policy;
    const { cgroup, rlimits } = environment.limits;
    assert.equal(cgroup.memory_max_bytes, resources.memory);
    assert.equal(cgroup.memory_swap_max_bytes, 0);
    assert.equal(cgroup.pids_max, resources.pids);
    assert.equal(cgroup.cpus, resources.cpus);
    assert.deepEqual(rlimits.open_files, { soft: resources.nofile, hard: resources.nofile });
    assert.deepEqual(rlimits.core_file_size_bytes, { soft: 0, hard: 0 });
  });

  it("runs every process of a command as the OOM killer's first choice", async () => {
    const result = await sandboxes.exec(
      sandbox,
      'cat /proc/self/oom_score_adj; (cat /proc/self/oom_score_adj)',
    );
    assert.equal(result.stdout, '1000\n1000\n');
  });

  it('names the kernel it runs on', () => {
    assert.equal(
      environment.kernel.runtime_hint,
      sandbox.loaded.policy.runtime === 'runsc' ? 'gvisor' : 'linux',
    );
    assert.ok(environment.kernel.release.length > 0);
  });
});
