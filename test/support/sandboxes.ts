import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { LoadedPolicy } from '../../src/policy/load.ts';
import type { Policy } from '../../src/policy/schema.ts';
import { DockerDriver } from '../../src/runtime/docker/driver.ts';
import { LABEL_ID } from '../../src/runtime/labels.ts';
import { type CreateOptions, type ManagerOptions, SandboxManager } from '../../src/sandbox/manager.ts';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { DEFAULT_UID_RANGE } from '../../src/sandbox/uids.ts';
import { assertTestRuntimeRegistered, loadTestPolicy } from './runtime.ts';

export const TEST_LABEL = 'io.sandboxd.test-run';

/** What exec_command answers, as far as the tests read it. */
export interface ExecResult {
  ok?: boolean;
  status: string;
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  command_id: string;
  total_bytes?: { stdout: number; stderr: number };
  error?: { code: string; message: string };
}

/**
 * A sandbox manager over the real Docker engine and the real worker image, with
 * a private state directory and a label unique to this test file, so `assertNothingLeft`
 * can prove that everything the file created is gone.
 */
export class TestSandboxes {
  readonly runId = randomUUID();
  readonly driver = new DockerDriver();
  readonly log = pino({ level: process.env.SANDBOXD_TEST_LOG ?? 'silent' }, pino.destination(2));
  stateDir = '';
  manager!: SandboxManager;
  readonly createdIds: string[] = [];

  /** `options` go to the manager (an egress name override, a watched egress connect). */
  async setup(options: Partial<ManagerOptions> = {}): Promise<void> {
    await assertTestRuntimeRegistered(this.driver);
    this.stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-test-state-'));
    this.manager = new SandboxManager({
      driver: this.driver,
      stateDir: this.stateDir,
      log: this.log,
      uidRange: DEFAULT_UID_RANGE,
      ...options,
    });
    await this.manager.init();
  }

  async policy(overrides: (policy: Policy) => void = () => undefined): Promise<LoadedPolicy> {
    const loaded = await loadTestPolicy('default');
    const policy = structuredClone(loaded.policy);
    overrides(policy);
    return { ...loaded, policy };
  }

  async create(options: Partial<CreateOptions> = {}): Promise<Sandbox> {
    const id = options.id ?? `t-${randomUUID().slice(0, 12)}`;
    this.createdIds.push(id);
    return this.manager.create({
      policy: options.policy ?? (await this.policy()),
      ...options,
      id,
      labels: { ...options.labels, [TEST_LABEL]: this.runId },
    });
  }

  /** Runs a shell command in the sandbox and returns its result (waits up to 60 s). */
  async exec(sandbox: Sandbox, cmd: string, extra: Record<string, unknown> = {}) {
    const reply = await sandbox.callTool('exec_command', { cmd, yield_time_ms: 60_000, ...extra }, 120_000);
    return reply.result as unknown as ExecResult;
  }

  async teardown(): Promise<void> {
    await this.manager.destroyAll();
    await this.assertNothingLeft();
    await rm(this.stateDir, { recursive: true, force: true });
  }

  async assertNothingLeft(): Promise<void> {
    const labels = { [TEST_LABEL]: this.runId };
    assert.deepEqual(await this.driver.list(labels), [], 'containers left behind');
    const sockets = await readdir(path.join(this.stateDir, 'sockets'));
    assert.deepEqual(sockets, [], 'socket directories left behind');
    for (const id of this.createdIds) {
      assert.deepEqual(await this.driver.listVolumes({ [LABEL_ID]: id }), [], `volume of ${id} left behind`);
    }
    const ids = this.manager.list().map((sandbox) => sandbox.id);
    assert.deepEqual(ids, [], 'sandboxes still tracked');
  }
}
