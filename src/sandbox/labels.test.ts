import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LABEL_ID, LABEL_MANAGED, LABEL_POOL } from '../runtime/labels.ts';
import { decodeSandboxLabels, encodeSandboxLabels, type SandboxLabels } from './labels.ts';

const written: SandboxLabels = {
  id: 'sb-1',
  policy: 'ci',
  workspace: 'sandboxd-ws-sb-1',
  socketDir: '/state/sockets/sb-1',
  created: '2026-01-01T00:00:00.000Z',
  user: '1000:1000',
  ownsVolume: true,
  lifetime: 'persistent',
  stateDir: '/state',
  expires: '2026-01-02T00:00:00.000Z',
  owner: 'operator',
  pool: 'ci',
};

describe('the container label codec', () => {
  it('reads back what it wrote, with the caller labels apart', () => {
    const raw = encodeSandboxLabels(written, { team: 'a' });
    assert.equal(raw[LABEL_MANAGED], 'true');
    assert.equal(raw[LABEL_POOL], 'ci');
    assert.deepEqual(decodeSandboxLabels(raw), { labels: written, callerLabels: { team: 'a' } });
  });

  it('lets none of the caller labels override its own', () => {
    const raw = encodeSandboxLabels(written, { [LABEL_ID]: 'sb-forged' });
    assert.equal(decodeSandboxLabels(raw)?.labels.id, 'sb-1');
  });

  it('reads an old container that names only its id with the defaults it implied', () => {
    const decoded = decodeSandboxLabels({ [LABEL_ID]: 'sb-2' });
    assert.equal(decoded?.labels.policy, 'default');
    assert.equal(decoded?.labels.ownsVolume, false);
    assert.equal(decoded?.labels.lifetime, 'persistent');
    assert.equal(decodeSandboxLabels({ team: 'a' }), undefined);
  });
});
