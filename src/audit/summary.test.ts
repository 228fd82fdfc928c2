import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskSecrets, summarizeArguments } from './summary.ts';

test('file contents, patches, stdin and written characters are kept as their size only', () => {
  const summary = summarizeArguments({
    path: 'notes/secret.txt',
    content: 'the file body',
    stdin: 'input',
    chars: 'typed',
  });
  assert.deepEqual(summary, {
    path: 'notes/secret.txt',
    content: { bytes: 13 },
    stdin: { bytes: 5 },
    chars: { bytes: 5 },
  });
});

test('a patch is summarized by its size and the files it names', () => {
  const patch =
    '*** Begin Patch\n*** Update File: src/a.ts\n@@\n-old\n+new\n*** Add File: b.md\n+hi\n*** End Patch';
  assert.deepEqual(summarizeArguments({ patch }), {
    patch: { bytes: Buffer.byteLength(patch), files: ['src/a.ts', 'b.md'] },
  });
});

test('environment values are left out, their names kept', () => {
  assert.deepEqual(summarizeArguments({ cmd: 'make', env: { NPM_TOKEN: 'abc', CI: '1' } }), {
    cmd: 'make',
    env: { names: ['NPM_TOKEN', 'CI'] },
  });
});

test('credentials in a command line are masked and long strings cut', () => {
  const masked = maskSecrets(
    'curl -H "Authorization: Bearer abcdefghijklmnop" https://user:hunter2@example.com --password=hunter2 ghp_0123456789abcdefghij0123',
  );
  assert.doesNotMatch(masked, /abcdefghijklmnop|hunter2|ghp_0123/);
  assert.match(masked, /^curl -H "Authorization: \*\*\*/);
  assert.equal(maskSecrets('a'.repeat(1000)).length, 201);
});
