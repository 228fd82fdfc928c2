import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ToolError } from '../src/protocol/errors.ts';
import type { Sandbox } from '../src/sandbox/sandbox.ts';
import { GVISOR_LIMITS, skipUnderGvisor } from './support/runtime.ts';
import { TestSandboxes } from './support/sandboxes.ts';

const sandboxes = new TestSandboxes();
let sandbox: Sandbox;

before(async () => {
  await sandboxes.setup();
  sandbox = await sandboxes.create();
});
after(() => sandboxes.teardown());

async function call(name: string, input: Record<string, unknown>) {
  return (await sandbox.callTool(name, input)).result as Record<string, unknown>;
}

async function refusal(name: string, input: Record<string, unknown>): Promise<string> {
  try {
    await sandbox.callTool(name, input);
  } catch (error) {
    assert.ok(error instanceof ToolError, String(error));
    return error.code;
  }
  assert.fail(`${name} ${JSON.stringify(input)} was not refused`);
}

// A 1×1 PNG, built by hand: signature, IHDR, IDAT, IEND (CRCs included).
const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describe('the tool set inside the real worker image', () => {
  it('writes atomically, reads ranges, lists and searches with ripgrep', async () => {
    await call('write_file', {
      path: 'src/app.ts',
      content: 'const a = 1;\nconst b = 2;\n// TODO: c\n',
      create_dirs: true,
    });
    await call('write_file', { path: '.gitignore', content: 'ignored/\n' });
    await call('write_file', { path: 'ignored/x.ts', content: 'TODO hidden\n', create_dirs: true });
    const read = await call('read_file', { path: 'src/app.ts', start_line: 2, end_line: 3 });
    assert.equal(read.content, 'const b = 2;\n// TODO: c\n');
    const files = await call('list_files', { patterns: ['**/*.ts'] });
    assert.deepEqual(files.files, ['src/app.ts']);
    const search = await call('search_text', { query: 'TODO' });
    const matches = search.matches as { path: string; line_number: number }[];
    assert.deepEqual(
      matches.map((match) => [match.path, match.line_number]),
      [['src/app.ts', 3]],
    );
    assert.equal(
      await refusal('write_file', { path: 'src/app.ts', content: 'x', overwrite: false }),
      'ALREADY_EXISTS',
    );
  });

  it('applies a multi-file patch and rolls everything back when one file fails', async () => {
    const patch = [
      '*** Begin Patch',
      '*** Update File: src/app.ts',
      '@@',
      '-const b = 2;',
      '+const b = 3;',
      '*** Add File: src/new.ts',
      '+export const n = 1;',
      '*** End Patch',
    ].join('\n');
    const applied = await call('apply_patch', { patch });
    assert.equal(applied.files_changed, 2);
    assert.match(String((await call('read_file', { path: 'src/app.ts' })).content), /const b = 3;/);
    const failing = [
      '*** Begin Patch',
      '*** Update File: src/app.ts',
      '@@',
      '-const a = 1;',
      '+const a = 9;',
      '*** Update File: src/new.ts',
      '@@',
      '-this line does not exist',
      '+x',
      '*** End Patch',
    ].join('\n');
    assert.equal(await refusal('apply_patch', { patch: failing }), 'PATCH_CONTEXT_NOT_FOUND');
    assert.match(String((await call('read_file', { path: 'src/app.ts' })).content), /const a = 1;/);
  });

  it('runs git in the workspace with structured results', async () => {
    const setup = await sandboxes.exec(
      sandbox,
      'git init -q -b main && git -c user.name=t -c user.email=t@e add -A && git -c user.name=t -c user.email=t@e commit -qm first && echo more >> src/app.ts',
    );
    assert.equal(setup.exit_code, 0, setup.stderr);
    const status = await call('git_status', {});
    assert.equal(status.branch, 'main');
    const entries = status.entries as { path: string }[];
    assert.deepEqual(
      entries.map((entry) => entry.path),
      ['src/app.ts'],
    );
    const log = await call('git_log', {});
    assert.equal((log.commits as { subject: string }[])[0]?.subject, 'first');
    const diff = await call('git_diff', {});
    assert.match(String(diff.diff), /\+more/);
  });

  it('gives a real pseudo-terminal with tty: true, and pipes otherwise', async () => {
    const tty = await sandboxes.exec(sandbox, 'test -t 1 && echo tty || echo pipe', { tty: true });
    assert.match(tty.stdout, /tty/);
    const pipe = await sandboxes.exec(sandbox, 'test -t 1 && echo tty || echo pipe');
    assert.equal(pipe.stdout, 'pipe\n');
  });

  for (const tty of [false, true]) {
    it(`reports timeout just after the deadline and leaves nothing running${tty ? ', on a terminal' : ''}`, async () => {
      // The second command ignores TERM, so only the KILL that follows it ends the command.
      for (const cmd of ['sleep 2', "trap '' TERM HUP; sleep 2"]) {
        const started = await call('exec_command', { cmd, tty, timeout_ms: 100, yield_time_ms: 0 });
        await sleep(350);
        const polled = await call('write_stdin', {
          command_id: started.command_id,
          chars: '',
          yield_time_ms: 0,
        });
        assert.equal(polled.status, 'timeout', cmd);
        assert.equal(polled.timed_out, true, cmd);
      }
      const left = await sandboxes.exec(sandbox, 'pgrep -x sleep || echo none');
      assert.equal(left.stdout, 'none\n');
    });
  }

  it('answers kill_command KILL with killed, and exited once the command has ended', async () => {
    const started = await call('exec_command', { cmd: 'sleep 30', yield_time_ms: 0 });
    const killed = await call('kill_command', { command_id: started.command_id, signal: 'KILL' });
    assert.equal(killed.status, 'killed');
    assert.equal(killed.signal, 'SIGKILL');
    const polled = await call('write_stdin', { command_id: started.command_id, chars: '', yield_time_ms: 0 });
    assert.equal(polled.status, 'killed');
    const again = await call('kill_command', { command_id: started.command_id, signal: 'KILL' });
    assert.equal(again.status, 'exited');
  });

  it('can run a program it put in /tmp (builds do)', async () => {
    const result = await sandboxes.exec(
      sandbox,
      'cp /bin/echo /tmp/e && /tmp/e ran && grep " /tmp " /proc/mounts',
    );
    assert.equal(result.exit_code, 0, result.stderr);
    assert.match(result.stdout, /^ran\n/);
    assert.doesNotMatch(result.stdout, /noexec/);
  });

  it('mounts /tmp nosuid', skipUnderGvisor(GVISOR_LIMITS.tmpfsFlags), async () => {
    const result = await sandboxes.exec(sandbox, 'grep " /tmp " /proc/mounts');
    assert.match(result.stdout, /nosuid/);
  });

  it('makes commands the first the OOM killer picks', async () => {
    const result = await sandboxes.exec(sandbox, 'cat /proc/self/oom_score_adj');
    assert.equal(result.stdout.trim(), '1000');
  });

  it('returns an image with its dimensions', async () => {
    await call('write_file', { path: 'pixel.png', content: PNG_1X1, encoding: 'base64' });
    const image = await call('view_image', { path: 'pixel.png' });
    assert.equal(image.mime_type, 'image/png');
    assert.equal(image.width, 1);
    assert.equal(image.height, 1);
  });

  it('refuses loader variables in a command environment', async () => {
    for (const name of ['LD_PRELOAD', 'NODE_OPTIONS', 'BASH_ENV']) {
      assert.equal(
        await refusal('exec_command', { cmd: 'true', env: { [name]: '/tmp/x' } }),
        'INVALID_ARGUMENT',
      );
    }
    const passed = await sandboxes.exec(sandbox, 'echo $GREETING', { env: { GREETING: 'hello' } });
    assert.equal(passed.stdout, 'hello\n');
  });
});

/** Commands agents type by habit, without checking first what the image has. */
const EVERYDAY_COMMANDS = [
  'python --version',
  // A virtual environment in /tmp and its own pip: no network, so pip must come with venv.
  'python -m venv /tmp/venv && /tmp/venv/bin/pip --version',
  'pip --version',
  'node --version',
  'npm --version',
  'npx --version',
  'git --version',
  'rg --version',
  'make --version',
  'jq --version',
  'diff --version',
  'patch --version',
  // coreutils' statx calls, which runsc 2022-12-19 refused (image/statx-compat/).
  'ls -la /workspace /tmp',
  'stat /workspace',
];

describe('the everyday toolbox in the worker image', () => {
  for (const cmd of EVERYDAY_COMMANDS) {
    it(`runs ${cmd}`, async () => {
      const result = await sandboxes.exec(sandbox, cmd);
      assert.equal(result.exit_code, 0, `${result.status}: ${result.stderr}`);
    });
  }
});
