import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultAgentLimits } from '#protocol/limits';
import { CheckExecEnvironmentTool, type ExecEnvironment } from '#protocol/tools/info';
import { checkExecEnvironment, summaryFlags } from './check-exec-environment.ts';
import { cgroupDirectory, parseCgroupMembership, parseLimit, parseProcLimits } from './limits.ts';
import { isReadOnlyMount, mountOf, parseMountinfo } from './mounts.ts';
import { parseIpv4Routes, parseIpv6Routes } from './network.ts';
import { decodeCapabilities, parseStatus, processReport } from './process-status.ts';

describe('check_exec_environment on this host', () => {
  let workspaceRoot: string;
  let environment: ExecEnvironment;
  let summary: string;
  let status: Map<string, string>;

  before(async () => {
    workspaceRoot = await realpath(await mkdtemp(path.join(os.tmpdir(), 'sandboxd-env-')));
    const outcome = await checkExecEnvironment({ workspaceRoot, limits: defaultAgentLimits }, {});
    environment = CheckExecEnvironmentTool.output.parse(outcome.result);
    summary = outcome.summary;
    status = parseStatus(await readFile('/proc/self/status', 'utf8'));
  });
  after(() => rm(workspaceRoot, { recursive: true, force: true }));

  it('reads the identity of the process', () => {
    assert.equal(environment.user.uid, process.getuid?.());
    assert.equal(environment.user.euid, process.geteuid?.());
    assert.equal(environment.user.gid, process.getgid?.());
    // Supplementary groups as the kernel lists them (process.getgroups() adds the egid on top).
    const groups = (status.get('Groups') ?? '').split(/\s+/).filter(Boolean).map(Number);
    assert.deepEqual(environment.user.groups, groups);
    assert.equal(environment.user.name, os.userInfo().username);
    assert.equal(environment.summary_flags.is_non_root, process.getuid?.() !== 0);
  });

  it('reports every capability set as the kernel prints it, decoded', () => {
    const sets = {
      inheritable: 'CapInh',
      permitted: 'CapPrm',
      effective: 'CapEff',
      bounding: 'CapBnd',
      ambient: 'CapAmb',
    } as const;
    for (const [name, field] of Object.entries(sets)) {
      const set = environment.capabilities[name as keyof typeof sets];
      assert.equal(set?.hex, status.get(field), name);
      assert.equal(set?.names.length, countBits(status.get(field) as string), name);
    }
    const anyCapability = Object.values(sets).some((field) => BigInt(`0x${status.get(field)}`) !== 0n);
    assert.equal(environment.summary_flags.has_no_capabilities, !anyCapability);
  });

  it('reads no_new_privs and seccomp from /proc/self/status', () => {
    assert.equal(environment.no_new_privs, status.get('NoNewPrivs') === '1');
    assert.equal(environment.seccomp.mode, Number(status.get('Seccomp')));
    assert.equal(environment.summary_flags.is_seccomp_filtered, status.get('Seccomp') === '2');
  });

  it('lists the network interfaces with loopback recognised', async () => {
    const names = (await readdir('/sys/class/net')).sort();
    assert.deepEqual(
      environment.network.interfaces?.map((item) => item.name),
      names,
    );
    assert.ok(environment.network.interfaces?.some((item) => item.name === 'lo' && item.is_loopback));
    assert.equal(environment.network.has_non_loopback_interface, names.length > 1);
    assert.equal(typeof environment.network.has_default_route, 'boolean');
  });

  it('probes / and /usr for writes and leaves no probe file behind', async () => {
    assert.deepEqual(
      environment.filesystem.write_probes.map((probe) => probe.path),
      ['/', '/usr'],
    );
    for (const probe of environment.filesystem.write_probes) {
      assert.equal(probe.is_writable, probe.errno === null);
      const left = (await readdir(probe.path)).filter((name) => name.startsWith('.sandboxd-write-probe-'));
      assert.deepEqual(left, []);
    }
    assert.equal(typeof environment.filesystem.is_root_mount_read_only, 'boolean');
  });

  it('describes the mounts of the workspace, socket dir, /tmp and home', () => {
    const byRole = new Map(environment.filesystem.mounts.map((mount) => [mount.role, mount]));
    assert.deepEqual([...byRole.keys()], ['workspace', 'socket_dir', 'tmp', 'home']);
    const workspace = byRole.get('workspace');
    assert.equal(workspace?.path, workspaceRoot);
    assert.ok(workspace?.mount_point !== null && workspaceRoot.startsWith(workspace?.mount_point ?? '?'));
    assert.ok((workspace?.capacity_bytes ?? 0) > 0);
    assert.equal(byRole.get('home')?.path, os.homedir());
  });

  it('reads the rlimits the process (and its children) run under', () => {
    const shell = (command: string) => execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8' }).trim();
    const asLimit = (text: string) => (text === 'unlimited' ? 'unlimited' : Number(text));
    assert.equal(environment.limits.rlimits.open_files?.soft, asLimit(shell('ulimit -n')));
    const coreBlocks = asLimit(shell('ulimit -c'));
    const core = environment.limits.rlimits.core_file_size_bytes?.soft;
    // sh reports the core limit in 512-byte or 1 KiB blocks; 0 and unlimited agree either way.
    if (coreBlocks === 0 || coreBlocks === 'unlimited') assert.equal(core, coreBlocks);
    assert.ok(environment.limits.rlimits.processes !== null);
  });

  it('reads the cgroup version and whatever limits exist', () => {
    const cgroup = environment.limits.cgroup;
    assert.ok(cgroup.version === 1 || cgroup.version === 2);
    assert.ok(cgroup.memory_max_bytes !== null, 'the memory limit (or "unlimited") is read');
  });

  it('names the kernel and the runtime it looks like', () => {
    assert.equal(environment.kernel.release, os.release());
    assert.equal(environment.kernel.runtime_hint, 'linux');
    assert.match(environment.kernel.proc_version ?? '', /^Linux version /);
  });

  it('says what it skipped and lists every flag in the summary', () => {
    assert.ok(environment.notes.some((note) => /setuid/.test(note)));
    for (const flag of Object.keys(environment.summary_flags)) assert.match(summary, new RegExp(`${flag}: `));
  });
});

function countBits(hex: string): number {
  return [...BigInt(`0x${hex}`).toString(2)].filter((bit) => bit === '1').length;
}

describe('reading /proc/self/status', () => {
  it('decodes capability masks into CAP_* names', () => {
    assert.deepEqual(decodeCapabilities('0000000000000000'), []);
    // Docker's default set.
    assert.deepEqual(decodeCapabilities('00000000a80425fb'), [
      'CAP_CHOWN',
      'CAP_DAC_OVERRIDE',
      'CAP_FOWNER',
      'CAP_FSETID',
      'CAP_KILL',
      'CAP_SETGID',
      'CAP_SETUID',
      'CAP_SETPCAP',
      'CAP_NET_BIND_SERVICE',
      'CAP_NET_RAW',
      'CAP_SYS_CHROOT',
      'CAP_MKNOD',
      'CAP_AUDIT_WRITE',
      'CAP_SETFCAP',
    ]);
    assert.deepEqual(decodeCapabilities('0000080000000000'), ['cap_43']);
  });

  it('takes the ambient set as empty where the kernel prints none and the permitted set is empty', () => {
    // gVisor's status: no CapAmb line.
    const gvisor = 'Uid:\t1000\t1000\t1000\t1000\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n';
    const notes: string[] = [];
    assert.deepEqual(processReport(parseStatus(gvisor), notes).capabilities.ambient, {
      hex: '0000000000000000',
      names: [],
    });
    assert.ok(notes.some((note) => note.includes('ambient ⊆ permitted')));
    const privileged = gvisor.replace('CapPrm:\t0000000000000000', 'CapPrm:\t00000000a80425fb');
    assert.equal(processReport(parseStatus(privileged), []).capabilities.ambient, null);
  });
});

describe('reading routes', () => {
  it('marks the reject routes a network-less IPv6 stack puts on lo', () => {
    const text =
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 ' +
      '00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n';
    assert.deepEqual(parseIpv6Routes(text), [{ iface: 'lo', isDefault: true, isReject: true }]);
  });

  it('finds an IPv4 default route', () => {
    const text =
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n' +
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n';
    assert.deepEqual(parseIpv4Routes(text), [
      { iface: 'eth0', isDefault: true, isReject: false },
      { iface: 'eth0', isDefault: false, isReject: false },
    ]);
    assert.deepEqual(parseIpv4Routes('Iface\tDestination\n'), []);
  });
});

const CONTAINER_MOUNTINFO = [
  '252 204 0:93 / / ro,relatime master:3 - overlay overlay rw,lowerdir=/a:/b',
  '257 256 0:100 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755',
  '258 257 0:28 / /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu',
  '261 257 0:31 / /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory',
  '265 257 0:35 /docker/abc /sys/fs/cgroup/pids ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids',
  '270 252 0:102 / /tmp rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=524288k',
  '271 252 254:0 /data /work\\040space rw,relatime - ext4 /dev/vda rw',
].join('\n');

describe('reading mountinfo', () => {
  const entries = parseMountinfo(CONTAINER_MOUNTINFO);

  it('parses fields around the optional ones and unescapes mount points', () => {
    assert.equal(entries.length, 7);
    assert.deepEqual(entries[0]?.mountOptions, ['ro', 'relatime']);
    assert.equal(entries[0]?.fstype, 'overlay');
    assert.equal(entries[6]?.mountPoint, '/work space');
    assert.equal(entries[6]?.root, '/data');
  });

  it('finds the mount that holds a path and whether it is read-only', () => {
    assert.equal(mountOf(entries, '/')?.fstype, 'overlay');
    assert.equal(isReadOnlyMount(mountOf(entries, '/') as never), true);
    assert.equal(mountOf(entries, '/tmp/x/y')?.mountPoint, '/tmp');
    assert.equal(mountOf(entries, '/tmpfoo')?.mountPoint, '/');
    assert.equal(mountOf(entries, '/work space/a')?.mountPoint, '/work space');
    assert.equal(isReadOnlyMount(mountOf(entries, '/tmp') as never), false);
  });
});

describe('reading cgroup limits', () => {
  it('parses limit spellings of v1 and v2', () => {
    assert.equal(parseLimit('1073741824\n'), 1073741824);
    assert.equal(parseLimit('max\n'), 'unlimited');
    assert.equal(parseLimit('-1'), 'unlimited');
    assert.equal(parseLimit('9223372036854771712'), 'unlimited');
    assert.equal(parseLimit('garbage'), null);
  });

  it('locates v1 controllers through a cgroup namespace or a bind of the container cgroup', () => {
    const mounts = parseMountinfo(CONTAINER_MOUNTINFO);
    const memberships = parseCgroupMembership('8:pids:/docker/abc\n4:memory:/\n1:cpu:/\n0::/\n');
    assert.deepEqual(cgroupDirectory(mounts, memberships, 'memory'), {
      version: 1,
      directory: '/sys/fs/cgroup/memory',
    });
    assert.deepEqual(cgroupDirectory(mounts, memberships, 'pids'), {
      version: 1,
      directory: '/sys/fs/cgroup/pids',
    });
  });

  it('locates a v2 cgroup below the unified mount', () => {
    const mounts = parseMountinfo('30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate');
    const memberships = parseCgroupMembership('0::/system.slice/x.service\n');
    assert.deepEqual(cgroupDirectory(mounts, memberships, 'memory'), {
      version: 2,
      directory: '/sys/fs/cgroup/system.slice/x.service',
    });
  });

  it('parses /proc/self/limits rows', () => {
    const rows = parseProcLimits(
      'Limit                     Soft Limit           Hard Limit           Units     \n' +
        'Max core file size        0                    unlimited            bytes     \n' +
        'Max open files            4096                 4096                 files     \n',
    );
    assert.deepEqual(rows.get('Max core file size'), { soft: 0, hard: 'unlimited' });
    assert.deepEqual(rows.get('Max open files'), { soft: 4096, hard: 4096 });
  });
});

describe('summary flags', () => {
  it('are false when the evidence could not be read', () => {
    const unknown = {
      user: { uid: null, euid: null, saved_uid: null, gid: null, egid: null, groups: null, name: null },
      capabilities: { inheritable: null, permitted: null, effective: null, bounding: null, ambient: null },
      no_new_privs: null,
      seccomp: { mode: null, mode_name: null, filters: null },
      network: {
        interfaces: null,
        has_non_loopback_interface: null,
        ipv4_routes: null,
        ipv6_routes: null,
        has_default_route: null,
      },
      filesystem: { is_root_mount_read_only: null, write_probes: [], mounts: [] },
      limits: {
        cgroup: {
          version: null,
          memory_max_bytes: null,
          memory_swap_max_bytes: null,
          pids_max: null,
          cpu_max: null,
          cpus: null,
        },
        rlimits: { open_files: null, core_file_size_bytes: null, processes: null },
      },
      kernel: {
        release: 'x',
        version: 'x',
        proc_version: null,
        runtime_hint: 'linux',
        runtime_evidence: 'x',
      },
    } satisfies Omit<ExecEnvironment, 'summary_flags' | 'notes'>;
    const flags = summaryFlags(unknown);
    assert.ok(
      Object.values(flags).every((value) => value === false),
      JSON.stringify(flags),
    );
  });
});
