import assert from 'node:assert/strict';
import { chmod, mkdtemp, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadOperatorToken } from './tokens.ts';

describe('the operator token file', () => {
  it('is made private again when it was left readable by others', async () => {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-token-'));
    const file = path.join(stateDir, 'operator-token');
    await writeFile(file, 'a-token-restored-from-a-backup\n');
    await chmod(file, 0o644);
    const token = await loadOperatorToken(stateDir, {});
    assert.equal(token.source, 'file');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });
});
