import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mirrorHeaderRejection } from './mcp-headers.ts';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const modernList = { jsonrpc: '2.0', id: 4, method: 'tools/list', params: { _meta: META } };

async function verdict(headers: Record<string, string>, body: unknown) {
  const response = mirrorHeaderRejection(new Headers(headers), body);
  if (response === undefined) return undefined;
  const answer = (await response.json()) as {
    id: unknown;
    error: { code: number; message: string; data?: unknown };
  };
  return { status: response.status, ...answer };
}

test('matching mirror headers pass on to the SDK, which checks presence and agreement', async () => {
  const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' };
  assert.equal(await verdict(headers, modernList), undefined);
  assert.equal(await verdict({}, { jsonrpc: '2.0', id: 1, method: 'ping' }), undefined, 'a legacy request');
});

test('a repeated mirror header is a -32020 header mismatch that names the header', async () => {
  const answer = await verdict(
    { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list, tools/list' },
    modernList,
  );
  assert.equal(answer?.status, 400);
  assert.equal(answer?.error.code, -32020);
  assert.match(answer?.error.message ?? '', /Mcp-Method/);
  assert.equal(answer?.id, 4);
});

test('a name outside visible ASCII must come Base64-encoded', async () => {
  const call = { ...modernList, method: 'tools/call', params: { _meta: META, name: 'read_file' } };
  const answer = await verdict(
    { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'read_fil\u00e9' },
    call,
  );
  assert.equal(answer?.error.code, -32020);
  assert.match(answer?.error.message ?? '', /Mcp-Name/);
});

test('a version the server does not speak gets UnsupportedProtocolVersion with every supported version', async () => {
  for (const [headers, body] of [
    [{ 'mcp-protocol-version': '2024-11-05' }, { jsonrpc: '2.0', id: 1, method: 'tools/list' }],
    [{ 'mcp-protocol-version': 'banana' }, { jsonrpc: '2.0', id: 1, method: 'tools/list' }],
    [
      { 'mcp-protocol-version': '2099-01-01', 'mcp-method': 'tools/list' },
      {
        ...modernList,
        params: { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } },
      },
    ],
  ] as const) {
    const answer = await verdict(headers, body);
    assert.equal(answer?.status, 400);
    assert.equal(answer?.error.code, -32022);
    assert.deepEqual(answer?.error.data, {
      supported: ['2026-07-28', '2025-11-25', '2025-06-18'],
      requested: headers['mcp-protocol-version'],
    });
  }
});

test('a header that disagrees with the envelope is left to the SDK’s -32020, as the specification orders it', async () => {
  assert.equal(
    await verdict({ 'mcp-protocol-version': '2099-01-01', 'mcp-method': 'tools/list' }, modernList),
    undefined,
  );
});
