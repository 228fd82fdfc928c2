import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import { GVISOR_LIMITS, isGvisor, skipUnderGvisor } from './support/runtime.ts';
import { TestSandboxes } from './support/sandboxes.ts';

const sandboxes = new TestSandboxes();
let sandbox: Sandbox;

before(async () => {
  await sandboxes.setup();
  const policy = await sandboxes.policy((p) => {
    p.resources.pids = 128;
    p.resources.memory = 256 * 1024 * 1024;
  });
  sandbox = await sandboxes.create({ policy });
});
after(() => sandboxes.teardown());

describe('resource limits', () => {
  it('stops a fork bomb at the pids limit and stays usable', async () => {
    // The bomb outlives its timeout's first kill by forking as it is killed: the whole group must go.
    const bomb = await sandboxes.exec(sandbox, 'bomb() { bomb | bomb & }; bomb; sleep 60', {
      timeout_ms: 3000,
    });
    assert.equal(bomb.status, 'timeout');
    assert.match(bomb.stderr, /fork|Resource temporarily unavailable/, 'the bomb ran into the pids limit');
    // TERM at the deadline, then SIGKILL until the group is empty: within seconds the
    // sandbox answers again and no bomb process is left.
    let processes = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < 80 && !(processes < 10); attempt++) {
      const probe = await sandboxes.exec(sandbox, 'ps -e --no-headers | wc -l').catch(() => undefined);
      if (probe?.status === 'exited') processes = Number(probe.stdout.trim());
      if (!(processes < 10)) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.ok(processes < 10, `the sandbox answers and no bomb process is left (${processes} processes)`);
    // Under runsc the limit is RLIMIT_NPROC inside (container-config.ts); gVisor mounts no cgroups.
    const pids = await sandboxes.exec(
      sandbox,
      isGvisor ? 'ulimit -u' : 'cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max',
    );
    assert.equal(pids.stdout.trim(), '128');
  });

  it(
    'kills a command that allocates past the memory limit, not the agent',
    skipUnderGvisor(GVISOR_LIMITS.memoryBomb),
    async () => {
      const before = await sandbox.link.call('ping', {});
      const hog = await sandboxes.exec(
        sandbox,
        'python3 -c "x = bytearray(1024 * 1024 * 1024); print(len(x))"',
      );
      // bash execs python directly, so the command itself is the one the OOM killer SIGKILLs.
      assert.equal(hog.status, 'terminated', `stderr: ${hog.stderr}`);
      assert.equal(hog.signal, 'SIGKILL');
      const after = await sandbox.link.call('ping', {});
      assert.ok(after.uptimeMs > before.uptimeMs, 'the same agent process answers');
      assert.equal(sandbox.link.connections, 1, 'the agent never reconnected');
    },
  );

  it('kills a command past its timeout together with its whole process group', async () => {
    const marker = `sleeper-${Date.now()}`;
    const result = await sandboxes.exec(
      sandbox,
      `(exec -a ${marker} sleep 300) & (exec -a ${marker} sleep 300) & wait`,
      {
        timeout_ms: 1000,
      },
    );
    assert.equal(result.status, 'timeout');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const left = await sandboxes.exec(sandbox, `pgrep -f '^${marker}' || echo none`);
    assert.equal(left.stdout.trim(), 'none');
  });
});
