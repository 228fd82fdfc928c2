import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ToolError } from '../src/protocol/errors.ts';
import { TestSandboxes } from './support/sandboxes.ts';

const sandboxes = new TestSandboxes();

before(() => sandboxes.setup());
after(() => sandboxes.teardown());

describe('the agent connection', () => {
  it('redials after its connection is cut, and a running command survives the cut', async () => {
    const sandbox = await sandboxes.create();
    const started = await sandboxes.exec(sandbox, 'sleep 1; echo finished', { yield_time_ms: 0 });
    assert.equal(started.status, 'running');
    const reconnected = new Promise((resolve) => sandbox.link.once('ready', resolve));
    sandbox.link.disconnect();
    await reconnected;
    assert.equal(sandbox.link.connections, 2);
    assert.equal(sandbox.link.hello?.activeCommands, 1, 'the agent reports the command it kept');
    const polled = await sandbox.callTool('write_stdin', {
      command_id: started.command_id,
      chars: '',
      yield_time_ms: 5000,
    });
    const result = polled.result as { status: string; exit_code: number; stdout: string };
    assert.equal(result.status, 'exited');
    assert.equal(result.exit_code, 0);
    assert.equal(result.stdout, 'finished\n');
    await sandboxes.manager.destroy(sandbox.id);
  });

  it('fails a call in flight when the connection drops, with a retryable error', async () => {
    const sandbox = await sandboxes.create();
    const call = sandbox.callTool('exec_command', { cmd: 'sleep 5', yield_time_ms: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    sandbox.link.disconnect();
    await assert.rejects(call, (error: unknown) => {
      assert.ok(error instanceof ToolError);
      assert.equal(error.code, 'SANDBOX_UNAVAILABLE');
      assert.equal(error.retryable, true);
      return true;
    });
    await sandboxes.manager.destroy(sandbox.id);
  });

  it('removes a container whose agent never connects, with a clear error', async () => {
    const policy = await sandboxes.policy((p) => {
      p.timeouts.agentConnect = 1500;
    });
    const started = Date.now();
    await assert.rejects(sandboxes.create({ policy, command: ['sleep', 'infinity'] }), (error: unknown) => {
      assert.ok(error instanceof ToolError);
      assert.equal(error.code, 'SANDBOX_UNAVAILABLE');
      assert.match(error.message, /did not connect within 1500 ms/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000);
    await sandboxes.assertNothingLeft();
  });

  it('fails fast when the container exits before its agent connects', async () => {
    await assert.rejects(
      sandboxes.create({ command: ['sh', '-c', 'echo broken image >&2; exit 7'] }),
      (error: unknown) => {
        assert.ok(error instanceof ToolError);
        assert.equal(error.code, 'SANDBOX_UNAVAILABLE');
        assert.match(error.message, /stopped before its agent connected/);
        assert.equal(error.details?.exitCode, 7);
        assert.match(String(error.details?.logs), /broken image/);
        return true;
      },
    );
    await sandboxes.assertNothingLeft();
  });

  it('refuses a connection whose first message is not a valid hello', async () => {
    const sandbox = await sandboxes.create();
    // A workload process can reach the socket too: a forged hello must not be accepted.
    const forged = await sandboxes.exec(
      sandbox,
      `python3 -c "
import socket
s = socket.socket(socket.AF_UNIX)
s.connect('/run/sandboxd/control.sock')
s.sendall(b'{\\"jsonrpc\\":\\"2.0\\",\\"method\\":\\"hello\\",\\"params\\":{\\"protocolVersion\\":99}}\\n')
print(repr(s.recv(100)))
"`,
    );
    assert.equal(
      forged.stdout.trim(),
      "b''",
      'the control plane closed the forged connection without a word',
    );
    // The real agent redials and serves again.
    await sandbox.link.waitReady(10_000);
    assert.equal((await sandboxes.exec(sandbox, 'echo ok')).stdout, 'ok\n');
    await sandboxes.manager.destroy(sandbox.id);
  });
});
