import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DockerDriver } from '../src/runtime/docker/driver.ts';
import { LABEL_ID, LABEL_SOCKET_DIR, managedLabels } from '../src/runtime/labels.ts';

/** `sandboxd run` as a CI job runs it: the built CLI (npm test builds it first), a private state directory. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'bin/sandboxd.js');
const driver = new DockerDriver();

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Sandboxes the CLI created, read from its log. */
  sandboxIds: string[];
}

let scratch = '';
let stateDir = '';
const seenIds: string[] = [];

beforeEach(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-run-cli-'));
  stateDir = path.join(scratch, 'state');
});

afterEach(async () => {
  await assertNothingLeft();
  await rm(scratch, { recursive: true, force: true });
});

after(async () => {
  for (const id of seenIds) await driver.removeVolume(`sandboxd-ws-${id}`);
});

function sandboxIdsIn(log: string): string[] {
  const ids = new Set<string>();
  for (const match of log.matchAll(/"sandboxId":"([a-z0-9-]+)"/g)) ids.add(match[1] as string);
  return [...ids];
}

function startCli(args: string[], cwd = scratch): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, [cli, 'run', ...args], {
    cwd,
    env: { ...process.env, SANDBOXD_STATE_DIR: stateDir, SANDBOXD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<RunResult>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(guard);
      const sandboxIds = sandboxIdsIn(stderr);
      seenIds.push(...sandboxIds);
      resolve({ code, signal, stdout, stderr, sandboxIds });
    });
  });
  return { child, done };
}

function runCli(args: string[], cwd?: string): Promise<RunResult> {
  return startCli(args, cwd).done;
}

/** No container, volume or socket directory of this test's CLI runs remains. */
async function assertNothingLeft(): Promise<void> {
  const ours = (await driver.list(managedLabels)).filter((container) =>
    container.labels[LABEL_SOCKET_DIR]?.startsWith(`${stateDir}/`),
  );
  assert.deepEqual(ours, [], 'containers left behind');
  for (const id of seenIds) {
    assert.deepEqual(await driver.listVolumes({ [LABEL_ID]: id }), [], `volume of ${id} left behind`);
  }
  const sockets = await readdir(path.join(stateDir, 'sockets')).catch(() => []);
  assert.deepEqual(sockets, [], 'socket directories left behind');
}

async function workspaceWith(files: Record<string, string>): Promise<string> {
  const workspace = path.join(scratch, 'workspace');
  await mkdir(workspace);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(workspace, name)), { recursive: true });
    await writeFile(path.join(workspace, name), content);
  }
  return workspace;
}

/** Every path under a host directory with its type and content, for before/after comparisons. */
async function snapshot(directory: string, prefix = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(directory)).sort()) {
    const full = path.join(directory, name);
    const info = await lstat(full);
    const relative = `${prefix}${name}`;
    if (info.isDirectory())
      lines.push(`${relative}/ ${info.mode}`, ...(await snapshot(full, `${relative}/`)));
    else if (info.isSymbolicLink()) lines.push(`${relative} -> ${await readlink(full)}`);
    else lines.push(`${relative} ${info.mode} ${await readFile(full, 'utf8')}`);
  }
  return lines;
}

describe('sandboxd run', () => {
  it("streams the command's stdout and stderr and passes its exit code through", async () => {
    const workspace = await workspaceWith({ 'hello.txt': 'hello from the host\n' });
    const result = await runCli([
      '--workspace',
      workspace,
      '--',
      'sh',
      '-c',
      'cat hello.txt; echo to-stderr >&2; exit 3',
    ]);
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stdout, 'hello from the host\n', 'stdout carries the command output only');
    assert.match(result.stderr, /to-stderr\n/);
    assert.equal(result.sandboxIds.length, 1);
  });

  it('exits 124 when --timeout fires', async () => {
    const workspace = await workspaceWith({});
    const started = Date.now();
    const result = await runCli(['--workspace', workspace, '--timeout', '1s', '--', 'sleep', '30']);
    assert.equal(result.code, 124, result.stderr);
    assert.ok(Date.now() - started < 25_000, 'the timeout ends the run long before the command would');
  });

  it('exits 2 with the usage on bad arguments, creating nothing', async () => {
    const workspace = await workspaceWith({});
    const cases = [
      ['--workspace', workspace],
      ['--workspace', workspace, '--'],
      ['--workspace', workspace, '--no-such-flag', '--', 'true'],
      ['--workspace', workspace, '--timeout', 'soon', '--', 'true'],
      ['--workspace', workspace, '--artifacts', '../outside', '--', 'true'],
      // In place, the artifacts would be copied onto themselves.
      [
        '--workspace',
        workspace,
        '--in-place',
        '--artifacts',
        'out',
        '--artifacts-dir',
        workspace,
        '--',
        'true',
      ],
      ['--workspace', workspace, '--copy', '--in-place', '--', 'true'],
      ['--workspace', workspace, '--git-write', '--', 'true'],
      ['--workspace', workspace, '--artifacts', 'out', '--artifacts-max-files', '0', '--', 'true'],
      ['--workspace', workspace, '--artifacts', 'out', '--artifacts-dir', '/no/such/dir', '--', 'true'],
      ['--', 'true'],
    ];
    for (const args of cases) {
      const result = await runCli(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /Usage: sandboxd/, args.join(' '));
      assert.deepEqual(result.sandboxIds, [], args.join(' '));
    }
  });

  it('exits 125 when the sandbox cannot start', async () => {
    const workspace = await workspaceWith({});
    const policies = path.join(scratch, 'policies');
    await mkdir(policies);
    await symlink(path.join(root, 'policies/seccomp'), path.join(policies, 'seccomp'));
    await writeFile(path.join(policies, 'broken.yaml'), 'name: broken\nimage: sandboxd-no-such-image:0\n');
    const result = await runCli([
      '--workspace',
      workspace,
      '--policy',
      path.join(policies, 'broken.yaml'),
      '--',
      'true',
    ]);
    assert.equal(result.code, 125, result.stderr);
    assert.match(result.stderr, /SANDBOX_UNAVAILABLE/);
  });

  for (const flags of [[], ['--copy']]) {
    it(`runs over a copy ${flags.length === 0 ? 'by default' : 'with --copy'}: the host tree is unchanged whatever the command does`, async () => {
      const workspace = await workspaceWith({
        'keep.txt': 'original\n',
        'src/main.js': 'console.log(1)\n',
        'src/deep/data.json': '{}\n',
      });
      await symlink('src/main.js', path.join(workspace, 'entry.js'));
      const before = await snapshot(workspace);
      const result = await runCli([
        '--workspace',
        workspace,
        ...flags,
        '--policy',
        'ci',
        '--',
        'sh',
        '-c',
        'cat keep.txt entry.js && rm -rf src && echo changed > keep.txt && echo new > new.txt && rm entry.js && ls',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, 'original\nconsole.log(1)\nkeep.txt\nnew.txt\n');
      assert.deepEqual(await snapshot(workspace), before);
    });
  }

  it("defuses CI runner commands and terminal escapes in the command's output, unless --raw-output", async () => {
    const workspace = await workspaceWith({});
    const script = String.raw`printf '::add-mask::hidden\n\033]0;owned\007\033[32mgreen\033[0m\n'`;
    const defused = await runCli(['--workspace', workspace, '--', 'sh', '-c', script]);
    assert.equal(defused.code, 0, defused.stderr);
    assert.equal(defused.stdout, '[sandboxd] ::add-mask::hidden\n\\x1b]0;owned\\x07\x1b[32mgreen\x1b[0m\n');
    const raw = await runCli(['--workspace', workspace, '--raw-output', '--', 'sh', '-c', script]);
    assert.equal(raw.stdout, '::add-mask::hidden\n\x1b]0;owned\x07\x1b[32mgreen\x1b[0m\n');
  });

  it('--in-place runs over the folder itself: its writes land on the host', async () => {
    const workspace = await workspaceWith({ 'keep.txt': 'original\n' });
    const result = await runCli([
      '--workspace',
      workspace,
      '--in-place',
      '--',
      'sh',
      '-c',
      'echo made > made.txt',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readFile(path.join(workspace, 'made.txt'), 'utf8'), 'made\n');
  });

  it('--artifacts copies named paths out through the agent, and no links', async () => {
    const workspace = await workspaceWith({ 'input.txt': 'in\n' });
    const artifacts = path.join(scratch, 'artifacts');
    await mkdir(artifacts);
    const result = await runCli([
      '--workspace',
      workspace,
      '--copy',
      '--artifacts',
      'out/report.txt',
      '--artifacts',
      'dist',
      '--artifacts',
      'missing',
      '--artifacts-dir',
      artifacts,
      '--',
      'sh',
      '-c',
      'mkdir -p out dist/sub && cp input.txt out/report.txt && echo js > dist/sub/app.js && ln -s /etc/passwd dist/passwd',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await snapshot(artifacts), [
      `dist/ ${(await lstat(path.join(artifacts, 'dist'))).mode}`,
      `dist/sub/ ${(await lstat(path.join(artifacts, 'dist/sub'))).mode}`,
      `dist/sub/app.js ${(await lstat(path.join(artifacts, 'dist/sub/app.js'))).mode} js\n`,
      `out/ ${(await lstat(path.join(artifacts, 'out'))).mode}`,
      `out/report.txt ${(await lstat(path.join(artifacts, 'out/report.txt'))).mode} in\n`,
    ]);
    assert.match(result.stderr, /dist\/passwd: a symlink is not copied/);
    assert.match(result.stderr, /artifact missing: not found/);
  });

  it('removes the container, its volume and its socket directory when sent SIGTERM', async () => {
    const workspace = await workspaceWith({});
    const { child, done } = startCli(['--workspace', workspace, '--copy', '--', 'sleep', '60']);
    // Wait until the command runs: the sandbox is ready and has a container.
    const deadline = Date.now() + 60_000;
    let containers = 0;
    while (containers === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      containers = (await driver.list(managedLabels)).filter((container) =>
        container.labels[LABEL_SOCKET_DIR]?.startsWith(`${stateDir}/`),
      ).length;
    }
    assert.equal(containers, 1, 'the run started a container');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const result = await done;
    assert.equal(result.code, 143, result.stderr);
    assert.ok(Date.now() - signalledAt < 20_000, 'the cleanup does not wait for the command');
    assert.equal(result.sandboxIds.length, 1);
  });
});
