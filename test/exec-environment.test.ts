import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CheckExecEnvironmentTool, type ExecEnvironment } from '../src/protocol/tools/info.ts';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import { DEFAULT_UID_RANGE } from '../src/sandbox/uids.ts';
import { GVISOR_LIMITS, isGvisor, skipUnderGvisor } from './support/runtime.ts';
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
    const { has_no_new_privs, ...flags } = environment.summary_flags;
    assert.deepEqual(flags, {
      is_non_root: true,
      has_no_capabilities: true,
      is_seccomp_filtered: true,
      has_no_network: true,
      is_root_read_only: true,
    });
    assert.match(summary, /is_root_read_only: true/);
    // gVisor's /proc/self/status has no NoNewPrivs line, so the tool cannot prove it there
    // (hardening.test.ts asks prctl instead, under both runtimes).
    if (!isGvisor) assert.equal(has_no_new_privs, true);
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
    // gVisor prints Seccomp but no Seccomp_filters line.
    if (!isGvisor) assert.ok((environment.seccomp.filters ?? 0) >= 1);
  });

  it('sees only loopback and no route out', () => {
    assert.deepEqual(environment.network.interfaces, [{ name: 'lo', is_loopback: true }]);
    assert.equal(environment.network.ipv4_routes, 0);
    assert.equal(environment.network.has_default_route, false);
  });

  it('cannot write to / or /usr, and sees the sandbox mounts as built', () => {
    assert.equal(environment.filesystem.is_root_mount_read_only, true);
    for (const probe of environment.filesystem.write_probes) {
      assert.equal(probe.is_writable, false, probe.path);
      // gVisor checks the directory's permissions before the read-only mount: EACCES for uid 1000.
      assert.equal(probe.errno, isGvisor ? 'EACCES' : 'EROFS', probe.path);
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
      assert.equal(mount?.capacity_bytes, size, role);
    }
  });

  it('sees /tmp and $HOME mounted nosuid and nodev', skipUnderGvisor(GVISOR_LIMITS.tmpfsFlags), () => {
    const byRole = new Map(environment.filesystem.mounts.map((mount) => [mount.role, mount]));
    for (const role of ['tmp', 'home'] as const) {
      assert.equal(byRole.get(role)?.is_nosuid, true, role);
      assert.equal(byRole.get(role)?.is_nodev, true, role);
    }
  });

  it(
    "reports the policy's limits from the cgroup",
    skipUnderGvisor('it mounts no cgroup filesystem inside; the limits hold on its processes outside'),
    () => {
      const { resources } = sandbox.loaded.policy;
      const { cgroup } = environment.limits;
      assert.equal(cgroup.memory_max_bytes, resources.memory);
      assert.equal(cgroup.memory_swap_max_bytes, 0);
      assert.equal(cgroup.pids_max, resources.pids);
      assert.equal(cgroup.cpus, resources.cpus);
    },
  );

  it("reports the policy's limits from the rlimits", skipUnderGvisor('it has no /proc/self/limits'), () => {
    const { resources } = sandbox.loaded.policy;
    const { rlimits } = environment.limits;
    assert.deepEqual(rlimits.open_files, { soft: resources.nofile, hard: resources.nofile });
    assert.deepEqual(rlimits.core_file_size_bytes, { soft: 0, hard: 0 });
  });

  it("holds the policy's rlimits in every command", async () => {
    const { resources } = sandbox.loaded.policy;
    const result = await sandboxes.exec(sandbox, 'ulimit -Sn; ulimit -Hn; ulimit -c; ulimit -Su; ulimit -Hu');
    const [softFiles, hardFiles, core, softProcesses, hardProcesses] = result.stdout.trim().split('\n');
    assert.deepEqual([softFiles, hardFiles, core], [String(resources.nofile), String(resources.nofile), '0']);
    // Under runsc the pids limit is RLIMIT_NPROC inside (container-config.ts).
    if (isGvisor)
      assert.deepEqual([softProcesses, hardProcesses], [String(resources.pids), String(resources.pids)]);
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
