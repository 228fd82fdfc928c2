import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { identityFiles } from './identity.ts';

describe("a sandbox's /etc/passwd and /etc/group", () => {
  it("name the sandbox's own uid and gid sandbox, beside root and nobody", () => {
    const files = identityFiles({ uid: 1_900_000_123, gid: 1_900_000_123 });
    assert.match(files.passwd, /^sandbox:x:1900000123:1900000123:sandbox:\/home\/sandbox:\/bin\/bash$/m);
    assert.match(files.group, /^sandbox:x:1900000123:$/m);
    assert.match(files.passwd, /^root:x:0:0:/m);
  });

  it('add nothing for root: a root-owned host folder runs as root, who is already there', () => {
    const files = identityFiles({ uid: 0, gid: 0 });
    assert.equal(files.passwd.split('\n').filter((line) => line.startsWith('sandbox:')).length, 0);
    assert.equal(files.group.split('\n').filter((line) => line.startsWith('sandbox:')).length, 0);
  });
});
