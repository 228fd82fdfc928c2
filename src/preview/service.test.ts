import assert from 'node:assert/strict';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { memorySandboxes } from '../sandbox/test-sandboxes.ts';
import { Previews } from './service.ts';

describe('previews whose grants cannot be saved', () => {
  it('withdraw a grant they could not save, and say a revoke holds only until a restart', async (t) => {
    const { manager, policy, stateDir } = await memorySandboxes(t);
    const sandbox = await manager.create({ policy });
    const previews = new Previews({
      manager,
      addressing: { domain: 'localhost', scheme: 'http', urlPort: 8081 },
      log: pino({ level: 'silent' }),
    });
    t.after(() => previews.close());
    const file = path.join(stateDir, 'previews.json');
    const options = { port: 3000, isPublic: false, grantedBy: 'operator' as const };
    // A directory where the file goes: every write fails at its rename.
    await mkdir(file);
    await assert.rejects(previews.grant(sandbox, options), { code: 'INTERNAL_ERROR' });
    assert.deepEqual(previews.list(sandbox.id), [], 'no grant that a restart would not know');
    assert.deepEqual(
      (await readdir(stateDir)).filter((name) => name.endsWith('.tmp')),
      [],
      'no temporary file left behind',
    );

    await rm(file, { recursive: true });
    const made = await previews.grant(sandbox, options);
    assert.deepEqual(
      previews.list(sandbox.id).map((one) => one.id),
      [made.id],
    );
    await rm(file);
    await mkdir(file);
    await assert.rejects(previews.revoke(sandbox.id, made.id), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'INTERNAL_ERROR');
      assert.match(error.message, /until the control plane restarts/);
      return true;
    });
    assert.deepEqual(previews.list(sandbox.id), [], 'revoked meanwhile all the same');
  });
});
