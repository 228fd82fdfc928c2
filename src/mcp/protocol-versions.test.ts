import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LATEST_LEGACY_VERSION, withSpeakableVersion } from './protocol-versions.ts';

const initialize = (protocolVersion: unknown) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

test('an initialize naming its version with something other than a string asks for the newest legacy one', () => {
  for (const version of [20250618, null, undefined, { date: '2025-06-18' }]) {
    const message = withSpeakableVersion(initialize(version));
    assert.equal(message.params.protocolVersion, LATEST_LEGACY_VERSION, String(version));
    assert.deepEqual(message.params.clientInfo, { name: 'raw', version: '1' });
  }
});

test('a version given as a string, and every other message, pass unchanged', () => {
  const dated = initialize('1999-01-01');
  assert.equal(withSpeakableVersion(dated), dated);
  const call = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { protocolVersion: 7 } };
  assert.equal(withSpeakableVersion(call), call);
});
