import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Scratch } from '../../test/support/cli.ts';
import { AgentTokens } from './agent-tokens.ts';

const scratch = new Scratch();
after(() => scratch.clear());

describe('agent tokens', () => {
  it('gives each sandbox its own token and accepts only that one', () => {
    const tokens = new AgentTokens(randomBytes(32));
    const a = tokens.tokenFor('sb-aaaa');
    const b = tokens.tokenFor('sb-bbbb');
    assert.match(a, /^[0-9a-f]{64}$/);
    assert.notEqual(a, b);
    assert.equal(tokens.matches('sb-aaaa', a), true);
    assert.equal(tokens.matches('sb-aaaa', b), false);
    assert.equal(tokens.matches('sb-aaaa', a.slice(0, 63)), false);
    assert.equal(tokens.matches('sb-aaaa', ''), false);
  });

  it('another key makes other tokens', () => {
    assert.notEqual(
      new AgentTokens(randomBytes(32)).tokenFor('sb-x'),
      new AgentTokens(randomBytes(32)).tokenFor('sb-x'),
    );
  });

  it('keeps its key in the state directory, private, across loads', async () => {
    const dir = await scratch.directory('sandboxd-tokens-');
    const first = await AgentTokens.load(dir);
    const second = await AgentTokens.load(dir);
    assert.equal(first.tokenFor('sb-1234'), second.tokenFor('sb-1234'));
    assert.equal((await stat(path.join(dir, 'agent-link.key'))).mode & 0o777, 0o600);
  });
});
