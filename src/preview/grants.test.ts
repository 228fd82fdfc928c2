import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { type GrantRecord, MAX_GRANTS_PER_SANDBOX, PreviewGrants } from './grants.ts';

/** When the sandboxes these grants are for were made. */
const CREATED = new Date('2026-01-01T00:00:00Z');

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('preview grants', () => {
  it('trades a capability for a session once, on its own sandbox and port only', () => {
    const grants = new PreviewGrants();
    const { grant, capability } = grants.grant({
      sandboxId: 'sb-a',
      sandboxCreatedAt: CREATED,
      port: 3000,
      ttlSeconds: 60,
      isPublic: false,
      grantedBy: 'operator',
    });
    assert.ok(capability !== undefined && capability.length >= 40);
    assert.equal(grants.redeem(capability, 'sb-b', 3000, 'c'), undefined, 'another sandbox');
    assert.equal(grants.redeem(capability, 'sb-a', 3001, 'c'), undefined, 'another port');
    const redeemed = grants.redeem(capability, 'sb-a', 3000, 'c');
    assert.equal(redeemed?.grant.id, grant.id);
    assert.equal(grants.redeem(capability, 'sb-a', 3000, 'c'), undefined, 'a second time');
    const session = redeemed?.session as string;
    assert.equal(grants.authorize([session], 'sb-a', 3000)?.id, grant.id);
    assert.equal(grants.authorize([session], 'sb-a', 3001), undefined);
    assert.equal(grants.authorize([session], 'sb-b', 3000), undefined);
    assert.equal(
      grants.authorize(['forged', session], 'sb-a', 3000)?.id,
      grant.id,
      'a tossed cookie beside it',
    );
    assert.equal(grants.authorize([], 'sb-a', 3000), undefined);
  });

  it('serves a public grant without a session, and nothing after revoke or expiry', () => {
    const time = clock();
    const records: GrantRecord[] = [];
    const grants = new PreviewGrants({ now: time.now, onRecord: (record) => records.push(record) });
    const open = grants.grant({
      sandboxId: 'sb-a',
      sandboxCreatedAt: CREATED,
      port: 80,
      ttlSeconds: 60,
      isPublic: true,
      grantedBy: 'operator',
    });
    assert.equal(open.capability, undefined);
    assert.equal(grants.authorize([], 'sb-a', 80)?.id, open.grant.id);
    assert.equal(grants.revoke('sb-a', open.grant.id), true);
    assert.equal(grants.authorize([], 'sb-a', 80), undefined);
    const later = grants.grant({
      sandboxId: 'sb-a',
      sandboxCreatedAt: CREATED,
      port: 80,
      ttlSeconds: 60,
      isPublic: true,
      grantedBy: 'mcp',
    });
    time.advance(60_000);
    assert.equal(grants.authorize([], 'sb-a', 80), undefined, 'expired');
    grants.sweep();
    assert.deepEqual(
      records.map((record) => record.action),
      ['granted', 'revoked', 'granted', 'expired'],
    );
    assert.equal(grants.list('sb-a').length, 0);
    assert.equal(later.grant.grantedBy, 'mcp');
  });

  it('bounds the grants a sandbox holds', () => {
    const grants = new PreviewGrants();
    for (let index = 0; index < MAX_GRANTS_PER_SANDBOX; index++) {
      grants.grant({
        sandboxId: 'sb-a',
        sandboxCreatedAt: CREATED,
        port: 1000 + index,
        ttlSeconds: 60,
        isPublic: false,
        grantedBy: 'mcp',
      });
    }
    assert.throws(
      () =>
        grants.grant({
          sandboxId: 'sb-a',
          sandboxCreatedAt: CREATED,
          port: 1,
          ttlSeconds: 60,
          isPublic: false,
          grantedBy: 'mcp',
        }),
      /revoke one/,
    );
    grants.grant({
      sandboxId: 'sb-b',
      sandboxCreatedAt: CREATED,
      port: 1,
      ttlSeconds: 60,
      isPublic: false,
      grantedBy: 'mcp',
    });
    grants.forget('sb-a');
    assert.equal(grants.list('sb-a').length, 0);
  });
});

describe('preview grants kept in a file', () => {
  async function scratch(t: { after: (fn: () => Promise<void>) => void }) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-grants-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const errors: unknown[] = [];
    const time = clock();
    const make = () =>
      new PreviewGrants({
        now: time.now,
        store: { file: path.join(dir, 'state', 'previews.json'), onError: (error) => errors.push(error) },
      });
    return { file: path.join(dir, 'state', 'previews.json'), errors, time, make };
  }

  it('outlive a restart: an opened session, an unused capability, a public grant; nothing else', async (t) => {
    const { file, errors, time, make } = await scratch(t);
    const before = make();
    const grant = (sandboxId: string, isPublic: boolean, ttlSeconds = 600) =>
      before.grant({
        sandboxId,
        sandboxCreatedAt: CREATED,
        port: 3000,
        ttlSeconds,
        isPublic,
        grantedBy: 'operator',
      });
    const opened = grant('sb-a', false);
    const session = before.redeem(opened.capability as string, 'sb-a', 3000, 'c')?.session as string;
    const unused = grant('sb-a', false);
    const open = grant('sb-b', true);
    const revoked = grant('sb-a', false);
    before.revoke('sb-a', revoked.grant.id);
    grant('sb-a', false, 1);
    grant('sb-gone', true);
    await before.saved();

    const text = await readFile(file, 'utf8');
    for (const secret of [opened.capability, session, unused.capability, revoked.capability]) {
      assert.equal(text.includes(secret as string), false, 'no capability or session in the file');
    }
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    time.advance(2000);
    const after = make();
    assert.equal(await after.load((id) => id !== 'sb-gone'), 3, 'not the expired, revoked or orphaned ones');
    assert.equal(
      after.authorize([session], 'sb-a', 3000)?.id,
      opened.grant.id,
      'the browser session still opens it',
    );
    assert.equal(after.authorize([], 'sb-b', 3000)?.id, open.grant.id);
    const redeemed = after.redeem(unused.capability as string, 'sb-a', 3000, 'c');
    assert.equal(redeemed?.grant.id, unused.grant.id, 'the link handed out still opens once');
    assert.equal(after.redeem(unused.capability as string, 'sb-a', 3000, 'c'), undefined);
    assert.equal(
      after.redeem(opened.capability as string, 'sb-a', 3000, 'c'),
      undefined,
      'a used one stays used',
    );
    assert.equal(after.redeem(revoked.capability as string, 'sb-a', 3000, 'c'), undefined);
    assert.equal(
      after
        .list('sb-a')
        .find((one) => one.id === opened.grant.id)
        ?.openedAt?.getTime(),
      opened.grant.openedAt?.getTime(),
    );

    after.forget('sb-b');
    await after.saved();
    const third = make();
    assert.equal(await third.load(() => true), 2, "a forgotten sandbox's grants are gone from the file too");
    const remade = (_id: string, createdAt: Date) => createdAt.getTime() !== CREATED.getTime();
    assert.equal(await make().load(remade), 0, 'a sandbox made again under the same id gets none of them');
    assert.deepEqual(errors, []);
  });

  it('read a missing file as none, and a damaged one as none with an error', async (t) => {
    const { file, errors, make } = await scratch(t);
    assert.equal(await make().load(() => true), 0);
    assert.deepEqual(errors, []);
    const first = make();
    first.grant({
      sandboxId: 'sb-a',
      sandboxCreatedAt: CREATED,
      port: 3000,
      ttlSeconds: 60,
      isPublic: true,
      grantedBy: 'operator',
    });
    await first.saved();
    const saved = JSON.parse(await readFile(file, 'utf8')) as { grants: Record<string, unknown>[] };
    for (const damaged of [
      '{"grants": [',
      JSON.stringify({ grants: [{ ...saved.grants[0], sessionSha256: 'not a hash' }] }),
      JSON.stringify({ grants: [{ ...saved.grants[0], port: 0 }] }),
    ]) {
      await writeFile(file, damaged);
      errors.length = 0;
      assert.equal(await make().load(() => true), 0);
      assert.equal(errors.length, 1, damaged);
    }
  });

  it('write a change made while a write runs in the next write, which saved() waits for', async (t) => {
    const { file, make } = await scratch(t);
    const grants = make();
    const made = Array.from({ length: 20 }, (_, index) =>
      grants.grant({
        sandboxId: `sb-${index % 3}`,
        sandboxCreatedAt: CREATED,
        port: 3000 + index,
        ttlSeconds: 60,
        isPublic: true,
        grantedBy: 'mcp',
      }),
    );
    const first = grants.saved();
    // The first write has begun (its file operations are under way): this revoke is not in it.
    await new Promise((resolve) => setImmediate(resolve));
    grants.revoke('sb-0', made[0]?.grant.id as string);
    const second = grants.saved();
    assert.notEqual(second, first, 'a write already under way is not waited for as if it held the revoke');
    await second;
    const ids = (JSON.parse(await readFile(file, 'utf8')) as { grants: { id: string }[] }).grants.map(
      (grant) => grant.id,
    );
    assert.deepEqual(
      ids.sort(),
      made
        .slice(1)
        .map((one) => one.grant.id)
        .sort(),
    );
  });

  it('report a write that fails, and saved() rejects', async (t) => {
    const { errors } = await scratch(t);
    const blocked = path.join(os.tmpdir(), `sandboxd-grants-file-${process.pid}-${Date.now()}`);
    await writeFile(blocked, 'a file where the state directory should be');
    t.after(() => rm(blocked, { force: true }));
    const grants = new PreviewGrants({
      store: { file: path.join(blocked, 'previews.json'), onError: (error) => errors.push(error) },
    });
    grants.grant({
      sandboxId: 'sb-a',
      sandboxCreatedAt: CREATED,
      port: 1,
      ttlSeconds: 60,
      isPublic: true,
      grantedBy: 'mcp',
    });
    await assert.rejects(grants.saved(), (error: NodeJS.ErrnoException) => error.code === 'EEXIST');
    assert.ok(errors.length >= 1, 'the failed write was reported');
  });
});
