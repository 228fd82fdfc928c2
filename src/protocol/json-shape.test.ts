import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonShape, jsonShapeOf } from './json-shape.ts';

/** Depth and elements counted on the parsed value: what the scanner must agree with. */
function reference(value: unknown, depth = 0): { deepest: number; elements: number } {
  if (value === null || typeof value !== 'object') return { deepest: depth, elements: 0 };
  const children = Array.isArray(value) ? value : Object.values(value);
  let deepest = depth + 1;
  let elements = Math.max(children.length, 1);
  for (const child of children) {
    const inner = reference(child, depth + 1);
    deepest = Math.max(deepest, inner.deepest);
    elements += inner.elements;
  }
  return { deepest, elements };
}

/** A random JSON value whose strings are full of what could fool a scanner. */
function randomValue(random: () => number, depth = 0): unknown {
  const pick = Math.floor(random() * (depth > 5 ? 3 : 6));
  const strings = ['', 'a', '"', '\\', '\\"', '[{,', '"]}', 'é\u0001', '\\\\', 'x\\\\"y'];
  if (pick === 0) return strings[Math.floor(random() * strings.length)];
  if (pick === 1) return Math.floor(random() * 1000);
  if (pick === 2) return random() < 0.5 ? null : true;
  if (pick === 3 || pick === 4)
    return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(random() * 4); i > 0; i--)
    object[strings[i] + String(i)] = randomValue(random, depth + 1);
  return object;
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('JsonShape', () => {
  it('counts nesting and elements, skipping what is inside strings', () => {
    const shape = jsonShapeOf('{"a":"[[{\\",","b":[1,2,{}],"c":[]}');
    assert.equal(shape.deepest, 3);
    assert.equal(shape.elements, 8);
    assert.equal(shape.depth, 0);
  });

  it('agrees with the parsed value whatever the chunking', () => {
    const random = seeded(17);
    for (let round = 0; round < 300; round++) {
      const value = randomValue(random);
      const bytes = Buffer.from(JSON.stringify(value));
      const shape = new JsonShape();
      let offset = 0;
      while (offset < bytes.length) {
        const end = Math.min(bytes.length, offset + 1 + Math.floor(random() * 5));
        shape.scan(bytes, offset, end);
        offset = end;
      }
      const expected = reference(value);
      assert.deepEqual({ deepest: shape.deepest, elements: shape.elements }, expected, bytes.toString());
    }
  });
});
