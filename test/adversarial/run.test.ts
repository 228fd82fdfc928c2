/**
 * `sandboxd run` in CI against a hostile pull request: artifacts that would fill
 * the runner's disk (a 500 GB sparse file, a flood of files), and a workload
 * that stops its agent and answers for it to hold the job forever.
 */
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { HOST_DEADLINE_GRACE_MS } from '../../src/cli/run.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/agent-api.ts';
import { runSandboxd, Scratch } from '../support/cli.ts';

const scratch = new Scratch();
after(() => scratch.clear());

function temporary(prefix: string): Promise<string> {
  return scratch.directory(prefix);
}

async function folderWith(files: Record<string, string>): Promise<string> {
  const directory = await temporary('sandboxd-adv-run-');
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(directory, name), content);
  return directory;
}

/**
 * A workload that stops its agent, dials the agent socket itself with a valid
 * hello, and answers every poll with "running": only a deadline kept on the host
 * ends the run.
 */
const FORGED_AGENT = `
import json, os, signal, socket, time
for pid in os.listdir('/proc'):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            if b'agent.mjs' in open(f'/proc/{pid}/cmdline', 'rb').read():
                os.kill(int(pid), signal.SIGSTOP)
        except OSError:
            pass
def hello():
    s = socket.socket(socket.AF_UNIX); s.connect('/run/sandboxd/control.sock')
    s.sendall((json.dumps({'jsonrpc': '2.0', 'method': 'hello', 'params': {'protocolVersion': ${PROTOCOL_VERSION},
        'agentVersion': 'forged', 'pid': 1, 'uid': 0, 'gid': 0, 'activeCommands': 1}}) + '\\n').encode())
    return s
me = hello(); lines = me.makefile('rb')
running = {'command_id': 'c1', 'status': 'running', 'exit_code': None, 'signal': None, 'duration_ms': 0,
    'tty': False, 'stdout': '', 'stderr': '', 'total_bytes': {'stdout': 0, 'stderr': 0},
    'omitted_bytes': {'stdout': 0, 'stderr': 0}, 'evicted_gap_bytes': {'stdout': 0, 'stderr': 0},
    'output_refs': {'stdout': 'command:c1:stdout', 'stderr': 'command:c1:stderr'}}
page = {'data': '', 'next_offset': 0, 'evicted_gap_bytes': 0}
for line in lines:
    request = json.loads(line)
    if 'id' not in request: continue
    name = request.get('params', {}).get('name')
    result = {} if request['method'] != 'tool' else {'summary': 'running', 'result': page if name == 'read_output' else running}
    me.sendall((json.dumps({'jsonrpc': '2.0', 'id': request['id'], 'result': result}) + '\\n').encode())
`;

describe('adversarial: sandboxd run in CI', () => {
  it('refuses artifacts past the byte or file cap before writing them, a 500 GB sparse file included', async () => {
    const workspace = await folderWith({});
    const artifacts = await temporary('sandboxd-adv-artifacts-');
    const big = await runSandboxd([
      'run',
      '--workspace',
      workspace,
      '--artifacts',
      'out',
      '--artifacts-dir',
      artifacts,
      '--',
      'sh',
      '-c',
      'mkdir out && echo small > out/a.txt && truncate -s 500G out/z-big',
    ]);
    assert.equal(big.code, 125, 'a command that succeeded but whose artifacts were refused fails the run');
    assert.match(big.stderr, /OUTPUT_TOO_LARGE/);
    await assert.rejects(stat(path.join(artifacts, 'out/z-big')), 'no byte of the big file reached the host');
    const many = await runSandboxd([
      'run',
      '--workspace',
      workspace,
      '--artifacts',
      'many',
      '--artifacts-max-files',
      '3',
      '--artifacts-dir',
      artifacts,
      '--',
      'sh',
      '-c',
      'mkdir many && for i in 1 2 3 4 5; do echo $i > many/$i; done',
    ]);
    assert.equal(many.code, 125);
    assert.match(many.stderr, /limit of 3 files/);
  });

  it('ends by itself when the workload stops its agent and answers for it: the CI job never hangs', async () => {
    const workspace = await folderWith({ 'forge.py': FORGED_AGENT });
    const started = Date.now();
    const result = await runSandboxd([
      'run',
      '--workspace',
      workspace,
      '--timeout',
      '1s',
      '--',
      'python3',
      'forge.py',
    ]);
    // The takeover fails the poll in flight (125); a forger that slipped in between two
    // polls would meet the host's deadline instead (124, unit-tested in src/cli/run.test.ts).
    assert.ok(result.code === 125 || result.code === 124, `${result.code}: ${result.stderr}`);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 1 + HOST_DEADLINE_GRACE_MS / 1000 + 10, `gave up after ${seconds} s`);
  });
});
