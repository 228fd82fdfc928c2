import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI } from './control-plane.ts';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `sandboxd` CLI to the end (killed after two minutes) and gives back what it said. */
export function runSandboxd(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(guard);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** Temporary directories a test file makes, removed together when it is done (call `clear` in `after`). */
export class Scratch {
  readonly #directories: string[] = [];

  async directory(prefix: string): Promise<string> {
    const directory = await mkdtemp(path.join(os.tmpdir(), prefix));
    this.#directories.push(directory);
    return directory;
  }

  /** Also removes `extra`, paths the test made beside its directories. */
  add(extra: string): void {
    this.#directories.push(extra);
  }

  async clear(): Promise<void> {
    for (const directory of this.#directories) await rm(directory, { recursive: true, force: true });
  }
}
