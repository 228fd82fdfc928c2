/**
 * Deepest nesting of arrays and objects a message may have, on HTTP bodies and
 * agent replies alike. Our own messages nest fewer than ten levels.
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * The shape of JSON text, measured without parsing it, as bytes arrive:
 * `JSON.parse` costs time and memory by the number of values, not by the size
 * of the text (16 MiB of one string parses in 20 ms, 16 MiB of `{},` takes 1.5 s
 * and 360 MB of heap; measured on Node 24). So a reader checks these counts
 * before it parses. Text inside strings is skipped; UTF-8 needs no decoding for
 * that, since bytes of multi-byte characters never look like ASCII.
 */
export class JsonShape {
  /** Current and deepest nesting of arrays and objects. */
  depth = 0;
  deepest = 0;
  /** Array elements and object members, counted as openings and commas (an empty container counts 1). */
  elements = 0;
  #isInString = false;
  /** Backslashes just before the end of the bytes measured so far, inside a string. */
  #backslashes = 0;

  /** Measures bytes [start, end) of `bytes`, continuing from the bytes measured before. */
  scan(bytes: Uint8Array, start = 0, end = bytes.length): void {
    let { depth, deepest, elements } = this;
    let index = start;
    while (index < end) {
      if (this.#isInString) {
        index = this.#skipString(bytes, index, end);
        continue;
      }
      const byte = bytes[index++];
      if (byte === QUOTE) {
        this.#isInString = true;
        this.#backslashes = 0;
      } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
        elements++;
        if (++depth > deepest) deepest = depth;
      } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
        depth--;
      } else if (byte === COMMA) {
        elements++;
      }
    }
    this.depth = depth;
    this.deepest = deepest;
    this.elements = elements;
  }

  /**
   * Where the string being measured ends (after its closing quote), or `end`.
   * Strings are most of the bytes of a large reply, so this jumps from quote to
   * quote with a native search (a byte loop took 7 ns a byte, 200 ms for 30 MiB):
   * a quote closes the string unless an odd run of backslashes precedes it.
   */
  #skipString(bytes: Uint8Array, start: number, end: number): number {
    const range = bytes.subarray(0, end);
    let from = start;
    for (;;) {
      const quote = range.indexOf(QUOTE, from);
      if (quote === -1) {
        this.#backslashes = trailingBackslashes(bytes, from, end, this.#backslashes);
        return end;
      }
      const run = trailingBackslashes(bytes, from, quote, this.#backslashes);
      this.#backslashes = 0;
      if (run % 2 === 0) {
        this.#isInString = false;
        return quote + 1;
      }
      from = quote + 1;
    }
  }
}

/** Backslashes that end bytes [start, end); `carried` ones came before `start`, if all of them are. */
function trailingBackslashes(bytes: Uint8Array, start: number, end: number, carried: number): number {
  let index = end;
  while (index > start && bytes[index - 1] === BACKSLASH) index--;
  return end - index + (index === start ? carried : 0);
}

/** The shape of a whole JSON text. */
export function jsonShapeOf(text: string | Uint8Array): JsonShape {
  const shape = new JsonShape();
  shape.scan(typeof text === 'string' ? Buffer.from(text) : text);
  return shape;
}
