import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GrantRecord, MAX_GRANTS_PER_SANDBOX, PreviewGrants } from './grants.ts';

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('preview grants', () => {
  it('trades a capability for a session once, on its own sandbox and port only', () => {
    const grants = new PreviewGrants();
    const { grant, capability } = grants.grant({
      sandboxId: 'sb-a',
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
        port: 1000 + index,
        ttlSeconds: 60,
        isPublic: false,
        grantedBy: 'mcp',
      });
    }
    assert.throws(
      () => grants.grant({ sandboxId: 'sb-a', port: 1, ttlSeconds: 60, isPublic: false, grantedBy: 'mcp' }),
      /revoke one/,
    );
    grants.grant({ sandboxId: 'sb-b', port: 1, ttlSeconds: 60, isPublic: false, grantedBy: 'mcp' });
    grants.forget('sb-a');
    assert.equal(grants.list('sb-a').length, 0);
  });
});
