import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cycles, type ImportGraph, importGraph, rulesFrom, violations } from './layering.ts';

const root = path.resolve(import.meta.dirname, '..');
const rules = rulesFrom(readFileSync(path.join(root, 'ARCHITECTURE.md'), 'utf8'));
const graph = importGraph(root);

describe('the layering of src/', () => {
  it('reads a rule for every room and the imports of every file', () => {
    assert.ok(rules.size >= 9, `rules for ${[...rules.keys()].join(', ')}`);
    assert.deepEqual(rules.get('protocol'), new Set());
    assert.ok(graph.size > 200, `${graph.size} files`);
    const agentImports = graph.get(path.join('src', 'agent', 'main.ts')) ?? [];
    assert.ok(
      agentImports.some((target) => target.startsWith(path.join('src', 'protocol'))),
      'the #protocol alias resolves into src/protocol',
    );
  });

  it('has no import against the rules of ARCHITECTURE.md', () => {
    assert.deepEqual(violations(graph, rules), []);
  });

  it('has no cycle of imports between files', () => {
    assert.deepEqual(cycles(graph), []);
  });

  it('would catch an import into a room not allowed, and a cycle', () => {
    const bad: ImportGraph = new Map([
      ['src/protocol/a.ts', ['src/sandbox/b.ts']],
      ['src/sandbox/b.ts', ['src/sandbox/c.ts']],
      ['src/sandbox/c.ts', ['src/sandbox/b.ts']],
      ['src/lost/d.ts', []],
    ]);
    assert.deepEqual(violations(bad, rules), [
      'src/protocol/a.ts imports src/sandbox/b.ts: protocol may not import sandbox',
      'src/lost/d.ts: src/lost is not a room of ARCHITECTURE.md',
    ]);
    assert.deepEqual(cycles(bad), [['src/sandbox/b.ts', 'src/sandbox/c.ts']]);
  });
});
