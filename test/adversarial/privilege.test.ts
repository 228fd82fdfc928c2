import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_UID_RANGE } from '../../src/sandbox/uids.ts';
import { GVISOR_LIMITS, isGvisor } from '../support/runtime.ts';
import { Arena } from './arena.ts';

/**
 * Privilege: setuid, namespaces, mount, ptrace of the agent, the syscalls the
 * seccomp profile removes, the OOM score, and the capability sets.
 */

let arena: Arena;
before(async () => {
  arena = await Arena.open();
});
after(() => arena?.close());

/** pid of the agent inside A (its command line is exactly `node /opt/sandboxd/agent.mjs`). */
async function agentPid(): Promise<number> {
  const pid = Number((await arena.sh(arena.a, "pgrep -xf 'node /opt/sandboxd/agent.mjs'")).trim());
  assert.ok(pid > 1, 'the agent runs');
  return pid;
}

/** Raw syscalls through perl: prints `<name> <return> <errno>` (x86_64 numbers). */
function perlSyscalls(calls: [string, number, ...number[]][]): string {
  const lines = calls.map(
    ([name, number, ...args]) =>
      `$r = syscall(${[number, ...args, 0, 0, 0, 0, 0].slice(0, 6).join(', ')}); print "${name} $r ", $!+0, "\\n";`,
  );
  return lines.join('\n');
}

describe('adversarial: privilege', () => {
  it('runs with every capability set empty, no_new_privs and seccomp, and no setuid file exists', () =>
    arena.case('priv.capabilities', async () => {
      // prctl(PR_GET_NO_NEW_PRIVS) answers under both runtimes; gVisor prints no NoNewPrivs or CapAmb line.
      const status = await arena.sh(
        arena.a,
        'id -u; perl -e \'print "NoNewPrivs: ", syscall(157, 39, 0, 0, 0, 0), "\\n"\'; ' +
          'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|Seccomp):" /proc/self/status; ' +
          'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/$(pgrep -xf "node /opt/sandboxd/agent.mjs")/status | sed "s/^/agent-/"',
      );
      const lines = status.trim().split('\n');
      const uid = Number(lines[0]);
      assert.ok(
        uid >= DEFAULT_UID_RANGE.first && uid < DEFAULT_UID_RANGE.first + DEFAULT_UID_RANGE.count,
        `uid ${uid}: the volume's own`,
      );
      const fields = Object.fromEntries(lines.slice(1).map((line) => line.split(/:\s+/) as [string, string]));
      const sets = [
        'CapInh',
        'CapPrm',
        'CapEff',
        'CapBnd',
        'agent-CapEff',
        'agent-CapBnd',
        ...(isGvisor ? [] : ['CapAmb']),
      ];
      for (const set of sets) assert.equal(fields[set], '0000000000000000', set);
      assert.equal(fields.NoNewPrivs, '1');
      if (!isGvisor) assert.equal(fields['agent-NoNewPrivs'], '1');
      assert.equal(fields.Seccomp, '2');
      assert.equal(fields['agent-Seccomp'], '2');
      const setuid = await arena.sh(arena.a, 'find / -xdev -perm /6000 -type f 2>/dev/null | head; echo end');
      assert.equal(setuid.trim(), 'end');
      const caps = await arena.sh(
        arena.a,
        'python3 -c "import os; print(os.setuid(0))" 2>&1 | tail -1; chown root /workspace 2>&1 | sed "s/.*: //"',
      );
      assert.match(caps, /Operation not permitted/);
      return {
        attempted:
          'read the capability sets, NoNewPrivs and Seccomp of a command and of the agent; find setuid/setgid files; setuid(0); chown to root',
        result: `uid ${uid} (the workspace volume's own); ${isGvisor ? 'four capability sets 0 (gVisor shows no ambient set; it is within the empty permitted one)' : 'all five capability sets 0'} (agent too); NoNewPrivs 1; Seccomp 2 (filter); setuid/setgid files: none; setuid(0) and chown: ${caps.trim().replace(/\n/g, ' / ')}`,
      };
    }));

  it('cannot create namespaces or mount anything', () =>
    arena.case('priv.namespaces-mount', async () => {
      const attempts = [
        'unshare -Ur true',
        'unshare -U true',
        'unshare -m true',
        'unshare -n true',
        'unshare -p -f true',
        'mount -t tmpfs none /tmp',
        'mount --bind /workspace /tmp',
        'mount -t proc proc /tmp',
        'umount /workspace',
        'umount -l /run/sandboxd',
      ];
      const outcomes: string[] = [];
      for (const attempt of attempts) {
        const result = await arena.exec(arena.a, attempt);
        assert.notEqual(result.exit_code, 0, `${attempt} must fail`);
        const lines = result.stderr.trim().split('\n');
        const reason = lines.find((line) => /not permitted|denied|superuser|failed/i.test(line)) ?? lines[0];
        outcomes.push(`${attempt}: ${reason?.replace(/^(\S+: )+/, '')}`);
      }
      const raw = await arena.sh(
        arena.a,
        `perl -e '${perlSyscalls([
          ['unshare(CLONE_NEWUSER)', 272, 0x10000000],
          ['unshare(CLONE_NEWNS)', 272, 0x20000],
          ['setns', 308, 0, 0],
          ['clone(CLONE_NEWUSER)', 56, 0x10000000],
          ['pivot_root', 155, 0, 0],
          ['chroot', 161, 0],
          ['mount', 165, 0, 0, 0, 0, 0],
          ['umount2', 166, 0, 0],
          ['fsopen', 430, 0, 0],
          ['open_tree', 428, 0, 0, 0],
        ])}'`,
      );
      for (const line of raw.trim().split('\n')) assert.match(line, / -1 (1|38)$/, line);
      const stillMounted = await arena.sh(
        arena.a,
        'grep -c " /workspace \\| /run/sandboxd " /proc/self/mounts',
      );
      assert.equal(stillMounted.trim(), '2');
      return {
        attempted:
          'unshare -Ur/-U/-m/-n/-p, mount tmpfs/bind/proc, umount /workspace and /run/sandboxd, raw unshare/setns/clone(CLONE_NEWUSER)/pivot_root/chroot/mount/umount2/fsopen/open_tree',
        result: `all failed: ${outcomes.join('; ')}; raw: ${raw.trim().replace(/\n/g, '; ')} (-1 errno 1 = EPERM)`,
      };
    }));

  it('cannot ptrace, read or write the memory of the agent', () =>
    arena.case('priv.ptrace-agent', async () => {
      const pid = await agentPid();
      const raw = await arena.sh(
        arena.a,
        `perl -e '${perlSyscalls([
          ['ptrace(PTRACE_ATTACH)', 101, 16, pid],
          ['ptrace(PTRACE_SEIZE)', 101, 0x4206, pid],
          ['ptrace(PTRACE_TRACEME)', 101, 0],
          ['process_vm_readv', 310, pid, 0, 0, 0, 0],
          ['process_vm_writev', 311, pid, 0, 0, 0, 0],
        ])}'`,
      );
      for (const line of raw.trim().split('\n')) assert.match(line, / -1 1$/, line);
      // /proc/<pid>/mem needs a ptrace-attach access check, not the ptrace syscall.
      const mem = await arena.sh(
        arena.a,
        `python3 - <<'EOF'
import errno
pid = ${pid}
maps = open(f'/proc/{pid}/maps').readline() if True else ''
start = int(maps.split('-')[0], 16) if maps else 0
for mode in ['rb', 'r+b']:
    try:
        with open(f'/proc/{pid}/mem', mode, buffering=0) as f:
            f.seek(start)
            data = f.read(16)
            print(mode, 'READ', len(data))
    except OSError as e:
        print(mode, errno.errorcode.get(e.errno, str(e)))
EOF
gdb --version >/dev/null 2>&1 && echo gdb-present || echo no-gdb; strace -V >/dev/null 2>&1 && echo strace-present || echo no-strace`,
      );
      const agentAfter = await agentPid();
      assert.equal(agentAfter, pid, 'the agent is the same process');
      return {
        attempted: `ptrace ATTACH/SEIZE of the agent (pid ${pid}, same uid as the workload), PTRACE_TRACEME, process_vm_readv/writev on it, open /proc/${pid}/mem for reading and writing`,
        result: `${raw.trim().replace(/\n/g, '; ')} (errno 1 = EPERM: seccomp removes them); /proc/${pid}/mem: ${mem
          .trim()
          .replace(
            /\n/g,
            '; ',
          )}${/READ/.test(mem) ? ' — RESIDUAL: same uid, so /proc/<agent>/mem is open to the workload; the agent holds nothing the sandbox does not already own' : ''}`,
      };
    }));

  it('cannot use keyctl, io_uring, bpf, perf_event_open, userfaultfd or load kernel modules', () =>
    arena.case('priv.removed-syscalls', async () => {
      const calls: [string, number, ...number[]][] = [
        ['keyctl', 250, 0],
        ['add_key', 248, 0, 0, 0, 0, 0],
        ['request_key', 249, 0, 0, 0, 0],
        ['io_uring_setup', 425, 8, 0],
        ['io_uring_enter', 426, 0, 0, 0, 0],
        ['io_uring_register', 427, 0, 0, 0, 0],
        ['bpf', 321, 0, 0, 0],
        ['perf_event_open', 298, 0, 0, -1, -1, 0],
        ['userfaultfd', 323, 0],
        ['init_module', 175, 0, 0, 0],
        ['finit_module', 313, 0, 0, 0],
        ['delete_module', 176, 0, 0],
        ['kexec_load', 246, 0, 0, 0, 0],
        ['open_by_handle_at', 304, 0, 0, 0],
        ['name_to_handle_at', 303, 0, 0, 0, 0, 0],
        ['swapon', 167, 0, 0],
        ['syslog', 103, 3, 0, 0],
        ['acct', 163, 0],
        ['reboot', 169, 0, 0, 0, 0],
        ['settimeofday', 164, 0, 0],
        ['quotactl', 179, 0, 0, 0, 0],
      ];
      const raw = await arena.sh(arena.a, `perl -e '${perlSyscalls(calls)}'`);
      const lines = raw.trim().split('\n');
      assert.equal(lines.length, calls.length);
      for (const line of lines) assert.match(line, / -1 1$/, line);
      return {
        attempted: `raw syscalls via perl syscall(): ${calls.map(([name]) => name).join(', ')}`,
        result: `all -1 EPERM (${lines.length}/${calls.length})`,
      };
    }));

  it('cannot lower its OOM score or the agent’s, nor raise its limits', () =>
    arena.case('priv.oom-and-limits', async () => {
      const pid = await agentPid();
      const out = await arena.sh(
        arena.a,
        `for target in self ${pid}; do
  for v in -1000 -500 -1; do
    if echo $v 2>/dev/null > /proc/$target/oom_score_adj; then echo "$target $v ACCEPTED"; else echo "$target $v refused"; fi
  done
done
echo "self-now $(cat /proc/self/oom_score_adj) agent-now $(cat /proc/${pid}/oom_score_adj)"
prlimit --pid $$ --nproc=unlimited:unlimited 2>&1 | sed 's/.*: //' | head -1
python3 -c "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (1<<20, 1<<20))" 2>&1 | tail -1
perl -e '$r = syscall(141, 0, 0, -20); print "setpriority(-20) $r ", $!+0, "\\n"'`,
      );
      assert.match(out, /not allowed to raise maximum limit/);
      // gVisor accepts both, and both stay inside its own kernel: see GVISOR_LIMITS.
      if (!isGvisor) {
        assert.doesNotMatch(out, /ACCEPTED/);
        assert.match(out, /setpriority\(-20\) -1 13/);
      }
      return {
        attempted: `write -1000/-500/-1 to /proc/self/oom_score_adj and the agent's (pid ${pid}); raise RLIMIT_NPROC/NOFILE hard limits; setpriority -20`,
        result: `${out.trim().replace(/\n/g, '; ')}${isGvisor ? ` (gVisor: ${GVISOR_LIMITS.oomScore}; ${GVISOR_LIMITS.nice})` : ''}`,
      };
    }));

  it('killing its own agent only hurts A, which comes back', () =>
    arena.case('priv.kill-own-agent', async () => {
      const pid = await agentPid();
      // Same uid: the workload can signal the agent. That is a self-inflicted outage only.
      await arena.exec(arena.a, `(sleep 0.3; kill -9 ${pid}) >/dev/null 2>&1 &`);
      const started = Date.now();
      let firstError = '';
      let back = false;
      let agentNow = 0;
      while (Date.now() - started < 45_000) {
        const probe = await arena
          .exec(arena.a, "pgrep -xf 'node /opt/sandboxd/agent.mjs'")
          .catch((error: Error) => ({ ok: false, error: { code: error.message } }) as never);
        if (probe.ok && probe.status === 'exited') {
          if (Date.now() - started > 300) {
            agentNow = Number(probe.stdout.trim());
            back = agentNow !== pid || Date.now() - started > 2000;
            if (back) break;
          }
        } else if (firstError === '') {
          firstError = probe.error?.code ?? 'unknown';
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      assert.ok(back, `A answers again within 45 s (first error: ${firstError})`);
      const read = await arena.call(arena.a, 'list_dir', { path: '.' });
      assert.equal(read.ok, true, 'the workspace is still there');
      return {
        attempted: `kill -9 of A's own agent (pid ${pid}) from a command in A`,
        result: `A answered ${firstError || 'nothing unusual'} meanwhile, then came back after ${seconds} s (container restarted on demand by the reaper's sweep; agent pid ${agentNow}); workspace intact`,
      };
    }));
});
