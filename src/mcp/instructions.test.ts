import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sandbox } from '../sandbox/sandbox.ts';
import { instructionsFor, prefetchInstructions } from './instructions.ts';
import type { WorkspaceTarget } from './target.ts';

/** A running sandbox whose workspace holds `files`; counts the reads that reach its agent. */
function sandboxWith(files: Record<string, string>) {
  const reads: string[] = [];
  const sandbox = {
    callTool: async (_tool: string, input: { path: string }) => {
      reads.push(input.path);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const content = files[input.path];
      if (content === undefined) throw new Error(`no such file ${input.path}`);
      const bytes = Buffer.byteLength(content);
      const result = {
        path: input.path,
        encoding: 'utf8',
        content,
        size_bytes: bytes,
        bytes_returned: bytes,
        truncated: false,
      };
      return { summary: '', result };
    },
  } as unknown as Sandbox;
  const target = {
    sandbox: async () => sandbox,
    currentSandbox: () => sandbox,
    facts: () => ({ name: 't', kind: 'volume', source: 't', policy: 'default' }),
  } as WorkspaceTarget;
  return { sandbox, target, reads };
}

test('AGENTS.md wins over CLAUDE.md; both are read at once, once', async () => {
  const { target, reads } = sandboxWith({ 'AGENTS.md': 'use pnpm', 'CLAUDE.md': 'use npm' });
  const [first, second] = await Promise.all([instructionsFor(target), instructionsFor(target)]);
  assert.match(first, /Project instructions from AGENTS\.md:\nuse pnpm$/);
  assert.equal(second, first);
  assert.deepEqual(reads.sort(), ['AGENTS.md', 'CLAUDE.md']);
});

test('CLAUDE.md speaks when AGENTS.md is missing; neither leaves the base text', async () => {
  assert.match(
    await instructionsFor(sandboxWith({ 'CLAUDE.md': 'be brief' }).target),
    /CLAUDE\.md:\nbe brief$/,
  );
  const none = await instructionsFor(sandboxWith({}).target);
  assert.doesNotMatch(none, /Project instructions/);
  assert.match(none, /hardened sandbox container/);
});

test('a prefetch started at provisioning is what the handshake gets, without reading again', async () => {
  const { sandbox, target, reads } = sandboxWith({ 'AGENTS.md': 'run make test' });
  prefetchInstructions(sandbox);
  assert.equal(reads.length, 2, 'the reads start at once');
  assert.match(await instructionsFor(target), /run make test$/);
  assert.equal(reads.length, 2, 'the handshake waited for the reads in flight');
});

test('a forged agent cannot grow the instructions past the cap', async () => {
  const huge = `${'é'.repeat(300 * 1024)}tail`;
  const text = await instructionsFor(sandboxWith({ 'AGENTS.md': huge }).target);
  const project = text.slice(text.indexOf('AGENTS.md:\n') + 'AGENTS.md:\n'.length);
  assert.ok(Buffer.byteLength(project) <= 16 * 1024, `${Buffer.byteLength(project)} bytes`);
  assert.ok(project.length > 8000, 'the allowed part is kept');
  assert.doesNotMatch(project, /\uFFFD/, 'no character cut in half');
});
