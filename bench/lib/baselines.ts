/**
 * The plain-Docker baselines the benchmarks compare sandboxd against: the
 * `docker` CLI people know, and the same container through the engine API.
 */
import { spawn } from 'node:child_process';
import type Docker from 'dockerode';
import type { ContainerCreateOptions } from 'dockerode';

/** Runs a command to completion and returns its trimmed stdout; rejects on a non-zero exit. */
export function runCommand(command: string, args: string[], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout.trim());
      else reject(new Error(`${command} ${args[0] ?? ''} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

/**
 * `docker run --rm IMAGE …` through the CLI, timed from spawn to exit: CLI start,
 * create, attach, start, wait and removal. The label lets cleanup find the
 * container if the run is interrupted.
 */
export async function timeDockerRun(
  image: string,
  command: string[],
  options: { label: string; signal?: AbortSignal },
): Promise<number> {
  const startedAt = performance.now();
  await runCommand('docker', ['run', '--rm', '--label', options.label, image, ...command], options.signal);
  return performance.now() - startedAt;
}

export interface EngineRunTimes {
  createMs: number;
  startMs: number;
  /** From start returning until the engine reports the exit. */
  waitMs: number;
  removeMs: number;
  totalMs: number;
}

/** The same run through the engine API, no CLI: create, start, wait for exit, remove, each timed. */
export async function timeEngineRun(
  docker: Docker,
  options: ContainerCreateOptions & { Image: string; Cmd: string[] },
): Promise<EngineRunTimes> {
  const t0 = performance.now();
  const container = await docker.createContainer(options);
  const t1 = performance.now();
  try {
    await container.start();
    const t2 = performance.now();
    const exit = (await container.wait()) as { StatusCode: number };
    const t3 = performance.now();
    if (exit.StatusCode !== 0) throw new Error(`${options.Cmd.join(' ')} exited with ${exit.StatusCode}`);
    await container.remove();
    const t4 = performance.now();
    return { createMs: t1 - t0, startMs: t2 - t1, waitMs: t3 - t2, removeMs: t4 - t3, totalMs: t4 - t0 };
  } catch (error) {
    await container.remove({ force: true }).catch(() => undefined);
    throw error;
  }
}
