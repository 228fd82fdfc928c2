import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePreviewHost, previewOrigin } from './host.ts';

describe('preview hosts', () => {
  it('reads the port and sandbox from a Host header, with or without its port, in any case', () => {
    for (const host of [
      '3000-sb-0a1b2c.localhost',
      '3000-SB-0A1B2C.localhost:8081',
      '3000-sb-0a1b2c.LOCALHOST',
    ]) {
      assert.deepEqual(parsePreviewHost(host, 'localhost'), { port: 3000, sandboxId: 'sb-0a1b2c' }, host);
    }
    assert.deepEqual(parsePreviewHost('8080-ws-default.preview.example.com', 'preview.example.com'), {
      port: 8080,
      sandboxId: 'ws-default',
    });
  });

  it('refuses anything else: the API host, other domains, nested names, bad ports', () => {
    for (const host of [
      undefined,
      'localhost',
      '127.0.0.1:8081',
      'sb-0a1b2c.localhost',
      '0-sb-0a1b2c.localhost',
      '03000-sb-0a1b2c.localhost',
      '65536-sb-0a1b2c.localhost',
      '3000-sb-0a1b2c.localhost.evil.example',
      'x.3000-sb-0a1b2c.localhost',
      '3000-sb_0a1b2c.localhost',
      '3000-sb-0a1b2c.example.com',
      '3000-ab.localhost',
    ]) {
      assert.equal(parsePreviewHost(host, 'localhost'), undefined, String(host));
    }
  });

  it('builds the origin a browser opens, round-tripping through the parser', () => {
    const local = { domain: 'localhost', scheme: 'http' as const, urlPort: 8081 };
    const origin = previewOrigin(local, 'sb-0a1b2c', 5173);
    assert.equal(origin, 'http://5173-sb-0a1b2c.localhost:8081');
    assert.deepEqual(parsePreviewHost(new URL(origin).host, 'localhost'), {
      port: 5173,
      sandboxId: 'sb-0a1b2c',
    });
    assert.equal(
      previewOrigin({ domain: 'preview.example.com', scheme: 'https', urlPort: undefined }, 'sb-1', 80),
      'https://80-sb-1.preview.example.com',
    );
  });
});
