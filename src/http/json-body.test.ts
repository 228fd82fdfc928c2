import assert from 'node:assert/strict';
import { test } from 'node:test';
import { messageShapeError } from './json-body.ts';

test('one JSON-RPC request or notification passes', () => {
  assert.equal(messageShapeError({ jsonrpc: '2.0', id: 1, method: 'ping' }), undefined);
  assert.equal(messageShapeError({ jsonrpc: '2.0', id: 'a', method: 'tools/list', params: {} }), undefined);
  assert.equal(messageShapeError({ jsonrpc: '2.0', method: 'notifications/initialized' }), undefined);
});

test('anything else is named for what is wrong with it', () => {
  const cases: [unknown, RegExp][] = [
    [[{ jsonrpc: '2.0', id: 1, method: 'ping' }], /batches/],
    ['ping', /message object/],
    [null, /message object/],
    [{ jsonrpc: '1.0', id: 1, method: 'ping' }, /jsonrpc/],
    [{ jsonrpc: '2.0', id: 1 }, /method/],
    [{ jsonrpc: '2.0', id: 1, method: '' }, /method/],
    [{ jsonrpc: '2.0', id: 1, result: {} }, /not responses/],
    [{ jsonrpc: '2.0', id: null, method: 'ping' }, /id/],
    [{ jsonrpc: '2.0', id: 1.5, method: 'ping' }, /id/],
    [{ jsonrpc: '2.0', id: 1, method: 'ping', params: [1] }, /params/],
  ];
  for (const [body, expected] of cases)
    assert.match(messageShapeError(body) ?? '', expected, JSON.stringify(body));
});
