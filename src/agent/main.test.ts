import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

const mainFile = path.join(import.meta.dirname, 'main.ts');

describe('agent entry point', () => {
  it('only loads, and never dials home, when warming the compile cache', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-agent-main-'));
    const socketPath = path.join(dir, 'control.sock');
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const child = spawn(process.execPath, [mainFile, '--warm-compile-cache'], {
        env: { PATH: process.env.PATH ?? '', SANDBOXD_SOCKET: socketPath, SANDBOXD_WORKSPACE: dir },
        stdio: 'ignore',
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const [code] = await new Promise<[number | null]>((resolve) =>
        child.once('close', (exitCode) => resolve([exitCode])),
      );
      clearTimeout(timer);
      assert.equal(code, 0, 'exits on its own, successfully');
      assert.equal(connections, 0, 'never connects to the control plane');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
