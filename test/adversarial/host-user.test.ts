/**
 * Another local user against sandboxd's sockets: root runs a control plane, and
 * a regular user of the same host (in the docker group, even) tries to dial a
 * sandbox's agent socket — to receive its tool inputs and forge its replies — and
 * the control plane's own socket. The state directory is private, so neither is
 * reachable, even when the directory was left world-readable before the start.
 */
import assert from 'node:assert/strict';
import { chmod, readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ControlPlane } from '../support/control-plane.ts';
import { HostUser, hostUserSkipReason } from '../support/host-user.ts';

const skip = hostUserSkipReason();
let user: HostUser | undefined;
let plane: ControlPlane | undefined;

before(async () => {
  if (skip !== false) return;
  user = await HostUser.create();
  plane = await ControlPlane.create();
});

after(async () => {
  await plane?.destroy();
  await user?.dispose();
});

describe('adversarial: another host user', () => {
  it("cannot dial root's agent sockets or control-plane socket to pose as an agent", { skip }, async () => {
    const served = plane as ControlPlane;
    await served.start();
    const client = await served.client();
    await client.callTool({ name: 'exec_command', arguments: { cmd: 'true' } });
    await client.close();
    const [sandbox] = await readdir(path.join(served.stateDir, 'sockets'));
    // Even a state directory someone made world-readable is made private again at start.
    await chmod(served.stateDir, 0o755);
    await served.stop();
    await served.start();
    const targets = [
      path.join(served.stateDir, 'sockets', sandbox as string, 'control.sock'),
      path.join(served.stateDir, 'control-plane.sock'),
    ];
    const outcomes: string[] = [];
    for (const target of targets)
      outcomes.push(`${path.basename(target)}: ${await (user as HostUser).connect(target)}`);
    assert.deepEqual(outcomes, ['control.sock: EACCES', 'control-plane.sock: EACCES']);
    process.stdout.write(
      `ADV host.other-user-sockets | attempted: as uid ${(user as HostUser).uid} (docker group), connect() to a sandbox's agent socket and to the control plane's | result: ${outcomes.join('; ')}\n`,
    );
  });
});
