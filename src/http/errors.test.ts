import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import pino from 'pino';
import { ErrorCode, ToolError } from '../protocol/errors.ts';
import type { HttpEnv } from './context.ts';
import { restError, STATUS } from './errors.ts';

function appThrowing(error: unknown, lines: string[] = []) {
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const app = new Hono<HttpEnv>();
  app.get('/boom', () => {
    throw error;
  });
  app.onError((thrown, c) => restError(c, thrown, log));
  return app;
}

describe('the REST error path', () => {
  it('has a status for every error code', () => {
    for (const code of ErrorCode.options) assert.ok(STATUS[code] >= 400, code);
  });

  it('answers a thrown ToolError with its code, message, retryability and status', async () => {
    const response = await appThrowing(new ToolError('QUOTA_EXCEEDED', 'too many')).request('/boom');
    assert.equal(response.status, 429);
    assert.deepEqual(await response.json(), {
      error: { code: 'QUOTA_EXCEEDED', message: 'too many', retryable: true },
    });
  });

  it('names the scheme on a 401', async () => {
    const response = await appThrowing(new ToolError('UNAUTHORIZED', 'no token')).request('/boom');
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="sandboxd"');
  });

  it('hides the message of anything else behind a logged 500', async () => {
    const lines: string[] = [];
    const response = await appThrowing(new Error('/var/lib/secret path'), lines).request('/boom');
    assert.equal(response.status, 500);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.deepEqual(body.error.code, 'INTERNAL_ERROR');
    assert.equal(body.error.message, 'internal error');
    assert.equal(lines.length, 1);
    assert.match(lines[0] as string, /HTTP request failed/);
  });
});
