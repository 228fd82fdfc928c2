/**
 * A plain long-running container of the worker image (`docker run -d IMAGE
 * sleep infinity`, no sandboxd hardening) for `docker exec` and memory
 * baselines, labelled with the run so cleanup can find it.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { runCommand } from './baselines.ts';
import type { BenchContext } from './suite.ts';

export const BENCH_LABEL = 'io.sandboxd.bench-run';

/** Starts the container and registers its removal; returns its full id. */
export async function plainContainer(
  context: BenchContext,
  image: string,
  extraArgs: string[] = [],
): Promise<string> {
  const label = `${BENCH_LABEL}=${randomUUID()}`;
  context.cleanup.add('remove the baseline container', async () => {
    const ids = await runCommand('docker', ['ps', '-aq', '--filter', `label=${label}`]);
    for (const id of ids.split('\n').filter((line) => line !== ''))
      await runCommand('docker', ['rm', '-f', id]);
  });
  return runCommand('docker', ['run', '-d', '--label', label, ...extraArgs, image, 'sleep', 'infinity']);
}

/** Spawns `command` and resolves with the time from spawn to exit; rejects on a non-zero exit. */
export function timeSpawn(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const child = spawn(command, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - startedAt;
      if (code === 0) resolve(ms);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}`));
    });
  });
}
