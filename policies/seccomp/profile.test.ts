import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  deriveProfile,
  GVISOR_CLONE3_COMMENT,
  gvisorProfile,
  MODE_GUARDED,
  REMOVED_NAMES,
  REMOVED_SYSCALLS,
  SETID_BITS,
  type SeccompProfile,
  type SeccompRule,
  serializeProfile,
} from './derive.ts';

const profileText = readFileSync(join(import.meta.dirname, 'sandboxd.json'), 'utf8');
const profile = JSON.parse(profileText) as SeccompProfile;
const readme = readFileSync(join(import.meta.dirname, 'README.md'), 'utf8');
const gvisorText = readFileSync(join(import.meta.dirname, 'sandboxd-gvisor.json'), 'utf8');

const ENOSYS = 38;
const EPERM = 1;
const AF_VSOCK = 40;
/** CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
const CLONE_NAMESPACE_FLAGS = [
  0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
];

function rulesFor(name: string): SeccompRule[] {
  return profile.syscalls.filter((rule) => rule.names.includes(name));
}

/** A rule that applies on every architecture, to every argument value. */
function isUnconditionalAllow(rule: SeccompRule): boolean {
  return (
    rule.action === 'SCMP_ACT_ALLOW' &&
    (rule.args === undefined || rule.args === null || rule.args.length === 0) &&
    rule.includes === undefined &&
    rule.excludes === undefined
  );
}

describe('sandboxd seccomp profile', () => {
  test('denies by default with EPERM', () => {
    assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(profile.defaultErrnoRet, EPERM);
  });

  test('no removed syscall appears in any SCMP_ACT_ALLOW rule, conditional or not', () => {
    for (const rule of profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW')) {
      const leaked = rule.names.filter((name) => REMOVED_NAMES.has(name));
      assert.deepEqual(leaked, [], `allowed by rule ${JSON.stringify(rule)}`);
    }
  });

  test('removed syscalls have no rule at all, so they fall through to the EPERM default', () => {
    for (const name of REMOVED_NAMES) {
      assert.deepEqual(rulesFor(name), [], name);
    }
  });

  test('no rule depends on capabilities or on the kernel version', () => {
    for (const rule of profile.syscalls) {
      assert.equal(rule.includes?.caps, undefined, `includes.caps on ${rule.names.join(',')}`);
      assert.equal(rule.excludes?.caps, undefined, `excludes.caps on ${rule.names.join(',')}`);
      assert.equal(rule.includes?.minKernel, undefined, `includes.minKernel on ${rule.names.join(',')}`);
    }
  });

  test('everyday syscalls stay allowed unconditionally', () => {
    const everyday = [
      'read',
      'write',
      'close',
      'execve',
      'execveat',
      'fork',
      'vfork',
      'wait4',
      'waitid',
      'pipe2',
      'dup3',
      'epoll_create1',
      'epoll_ctl',
      'epoll_wait',
      'epoll_pwait',
      'eventfd2',
      'futex',
      'mmap',
      'mprotect',
      'munmap',
      'brk',
      'rt_sigaction',
      'rt_sigprocmask',
      'prctl',
      'getrandom',
      'newfstatat',
      'statx',
      'getdents64',
      'connect',
      'bind',
      'listen',
      'accept4',
      'sendto',
      'recvfrom',
      'socketpair',
      'poll',
      'ppoll',
      'pselect6',
      'inotify_init1',
      'inotify_add_watch',
      'memfd_create',
      'ioctl',
      'fcntl',
      'kill',
      'tgkill',
      'setsid',
      'setpgid',
      'prlimit64',
      'sched_getaffinity',
      'membarrier',
      'rseq',
      'copy_file_range',
      'sendfile',
      'seccomp',
      'io_setup',
      'io_submit',
    ];
    for (const name of everyday) {
      assert.ok(rulesFor(name).some(isUnconditionalAllow), `${name} should be allowed unconditionally`);
    }
  });

  test('arch_prctl stays allowed on amd64', () => {
    assert.ok(
      rulesFor('arch_prctl').some(
        (r) => r.action === 'SCMP_ACT_ALLOW' && r.includes?.arches?.includes('amd64'),
      ),
    );
  });

  test('socket is allowed for every family except AF_VSOCK', () => {
    const rules = rulesFor('socket');
    assert.equal(rules.length, 1);
    assert.equal(rules[0]?.action, 'SCMP_ACT_ALLOW');
    assert.deepEqual(rules[0]?.args, [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }]);
  });

  test('clone is allowed only with every CLONE_NEW* flag clear', () => {
    const rules = rulesFor('clone');
    assert.ok(rules.length > 0);
    for (const rule of rules) {
      assert.equal(rule.action, 'SCMP_ACT_ALLOW');
      assert.equal(rule.args?.length, 1);
      const arg = rule.args?.[0];
      assert.equal(arg?.op, 'SCMP_CMP_MASKED_EQ');
      assert.ok(arg?.valueTwo === undefined || arg.valueTwo === 0, '(flags & mask) must equal 0');
      for (const flag of CLONE_NAMESPACE_FLAGS) {
        assert.ok(((arg?.value ?? 0) & flag) === flag, `mask misses 0x${flag.toString(16)}`);
      }
    }
    // The flags are argument 0 everywhere except s390/s390x, where they are argument 1.
    const generic = rules.find((r) => r.args?.[0]?.index === 0);
    assert.deepEqual(generic?.excludes, { arches: ['s390', 's390x'] });
    const s390 = rules.find((r) => r.args?.[0]?.index === 1);
    assert.deepEqual(s390?.includes, { arches: ['s390', 's390x'] });
    assert.equal(s390?.excludes, undefined);
  });

  test('clone3 returns ENOSYS for everyone, so libc falls back to the filtered clone', () => {
    const rules = rulesFor('clone3');
    assert.equal(rules.length, 1);
    assert.equal(rules[0]?.action, 'SCMP_ACT_ERRNO');
    assert.equal(rules[0]?.errnoRet, ENOSYS);
    assert.equal(rules[0]?.includes, undefined);
    assert.equal(rules[0]?.excludes, undefined);
  });

  test("personality keeps Docker's argument-filtered values only", () => {
    const allowedValues = new Set([0x0, 0x8, 0x20000, 0x20008, 0xffffffff]);
    const rules = rulesFor('personality');
    assert.equal(rules.length, allowedValues.size);
    for (const rule of rules) {
      assert.equal(rule.args?.length, 1);
      assert.equal(rule.args?.[0]?.op, 'SCMP_CMP_EQ');
      assert.ok(allowedValues.has(rule.args?.[0]?.value ?? -1));
    }
  });

  test('the committed file is exactly what derive.ts produces (a fixed point)', () => {
    const { profile: again, report } = deriveProfile(profile);
    assert.equal(serializeProfile(again), profileText);
    assert.deepEqual(report, {
      droppedCapRules: [],
      capExclusionsStripped: [],
      removedNames: [],
      modeGuarded: [],
    });
  });

  test('README documents every removed syscall', () => {
    for (const name of REMOVED_NAMES) {
      assert.ok(readme.includes(`\`${name}\``), `README.md does not mention \`${name}\``);
    }
  });

  test('allows the mode-setting calls only without setuid or setgid bits, and refuses openat2 with ENOSYS', () => {
    for (const { name, modeArg } of MODE_GUARDED) {
      const rules = rulesFor(name);
      if (name === 'fchmodat2' && rules.length === 0) continue; // absent upstream: refused by default
      assert.equal(rules.length, 1, `${name} has exactly one rule`);
      assert.deepEqual(rules[0]?.args, [
        { index: modeArg, value: SETID_BITS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' },
      ]);
      assert.equal(rules[0]?.action, 'SCMP_ACT_ALLOW');
    }
    assert.deepEqual(
      rulesFor('openat2').map((rule) => [rule.action, rule.errnoRet]),
      [['SCMP_ACT_ERRNO', ENOSYS]],
    );
  });
});

describe('deriveProfile', () => {
  const upstream: SeccompProfile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    syscalls: [
      { names: ['read', 'io_uring_setup', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
      { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
      {
        names: ['clone', 'unshare', 'mount'],
        action: 'SCMP_ACT_ALLOW',
        includes: { caps: ['CAP_SYS_ADMIN'] },
      },
      {
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }],
        excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
      },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
    ],
  };

  test('drops capability-conditioned allowances and removed names, keeps the rest in order', () => {
    const { profile: out, report } = deriveProfile(upstream);
    assert.deepEqual(
      out.syscalls.map((r) => r.names),
      [['read', 'write'], ['arch_prctl'], ['clone'], ['clone3']],
    );
    assert.deepEqual(out.syscalls[2]?.excludes, { arches: ['s390', 's390x'] });
    assert.equal(out.syscalls[3]?.excludes, undefined);
    assert.deepEqual(report.removedNames, ['io_uring_setup', 'ptrace']);
    assert.equal(report.droppedCapRules.length, 2);
    assert.equal(report.capExclusionsStripped.length, 2);
  });

  test('does not modify its input', () => {
    const before = structuredClone(upstream);
    deriveProfile(upstream);
    assert.deepEqual(upstream, before);
  });

  test('refuses to drop a capability-conditioned restriction', () => {
    const odd: SeccompProfile = {
      ...upstream,
      syscalls: [
        ...upstream.syscalls,
        { names: ['uname'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN'] } },
      ],
    };
    assert.throws(() => deriveProfile(odd), /capability-conditioned SCMP_ACT_ERRNO/);
  });

  test('refuses a profile that would not keep clone3 at ENOSYS', () => {
    const noClone3: SeccompProfile = {
      ...upstream,
      syscalls: upstream.syscalls.filter((r) => !r.names.includes('clone3')),
    };
    assert.throws(() => deriveProfile(noClone3), /clone3/);
  });

  test('every removal group has at least one name', () => {
    for (const group of REMOVED_SYSCALLS) {
      assert.ok(group.names.length > 0, group.topic);
    }
  });
});

describe('the gVisor variant (sandboxd-gvisor.json)', () => {
  const variant = JSON.parse(gvisorText) as SeccompProfile;

  test('is exactly what derive.ts makes of sandboxd.json', () => {
    assert.equal(serializeProfile(gvisorProfile(profile)), gvisorText);
  });

  test('differs from sandboxd.json only in letting clone3 through', () => {
    const differing = variant.syscalls.filter(
      (rule, index) => JSON.stringify(rule) !== JSON.stringify(profile.syscalls[index]),
    );
    assert.deepEqual(differing, [
      { names: ['clone3'], action: 'SCMP_ACT_ALLOW', comment: GVISOR_CLONE3_COMMENT },
    ]);
    assert.equal(variant.syscalls.length, profile.syscalls.length);
    assert.equal(variant.defaultAction, profile.defaultAction);
  });
});
