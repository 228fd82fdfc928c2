/**
 * What `sandboxd run` passes on of an untrusted command's output, by default.
 * A CI runner reads a job's log for commands of its own — GitHub Actions takes a
 * line starting with `::` (`::add-mask::`, `::stop-commands::`, `::error::`) or
 * holding `##[` as an instruction — and a terminal obeys escape sequences (set
 * the title, write the clipboard with OSC 52, move the cursor to paint over
 * earlier lines). A pull request's test suite must not be able to do either, so
 * such lines are defused and control characters shown as `\xNN`, while colours
 * (SGR sequences, `ESC [ … m`), tabs, newlines and carriage returns pass as they
 * are. `--raw-output` turns this off.
 */

/** An SGR sequence: colours and text attributes, nothing else. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ESC is the point.
const SGR = /^\x1b\[[0-9;:]{0,32}m/;
/** The start of an escape sequence that may yet become an SGR one. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ESC is the point.
const SGR_START = /^\x1b(\[[0-9;:]*)?$/;
/** How long an unfinished escape sequence or line start may be held back for the next chunk. */
const MAX_HELD = 40;
/** White space held at a line start, at most: past that the line is passed on as it is. */
const MAX_HELD_BLANKS = 64 * 1024;
/** What a defused runner-command line starts with. */
export const DEFUSED_PREFIX = '[sandboxd] ';

function shown(code: number): string {
  return `\\x${code.toString(16).padStart(2, '0')}`;
}

function isControl(code: number): boolean {
  return (
    (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) ||
    code === 0x7f ||
    (code >= 0x80 && code <= 0x9f)
  );
}

export class CiOutputEscaper {
  #held = '';
  #atLineStart = true;

  /** The escaped form of the next piece of output; may hold back a few characters. */
  write(text: string): string {
    return this.#escape(this.#held + text, false);
  }

  /** Whatever was held back, escaped: the stream has ended. */
  end(): string {
    return this.#escape(this.#held, true);
  }

  #escape(text: string, isFinal: boolean): string {
    this.#held = '';
    let out = '';
    let index = 0;
    while (index < text.length) {
      if (this.#atLineStart) {
        // The runner trims every kind of Unicode white space before it looks for "::".
        const blanks = /^\s*/.exec(text.slice(index))?.[0].replace(/[\r\n][\s\S]*$/, '') ?? '';
        const start = index + blanks.length;
        const isUndecided = text.length - start < 2 && !/[\r\n]/.test(text.slice(start));
        if (!isFinal && isUndecided && text.length - index < MAX_HELD_BLANKS) {
          this.#held = text.slice(index); // Not yet known whether this line starts with "::".
          return out;
        }
        if (text.startsWith('::', start)) out += DEFUSED_PREFIX;
        this.#atLineStart = false;
      }
      const code = text.charCodeAt(index);
      if (code === 0x1b) {
        const sgr = SGR.exec(text.slice(index, index + MAX_HELD));
        if (sgr !== null) {
          out += sgr[0];
          index += sgr[0].length;
          continue;
        }
        if (!isFinal && text.length - index < MAX_HELD && SGR_START.test(text.slice(index))) {
          this.#held = text.slice(index); // Perhaps a colour whose end is in the next chunk.
          return out;
        }
      }
      if (code === 0x23 && text.startsWith('##[', index)) {
        out += '#\u200b#[';
        index += 3;
        continue;
      }
      if (code === 0x23 && !isFinal && text.length - index < 3 && '##['.startsWith(text.slice(index))) {
        this.#held = text.slice(index);
        return out;
      }
      out += isControl(code) ? shown(code) : text[index];
      // The runner reads lines as .NET does: a lone carriage return ends one too.
      if (code === 0x0a || code === 0x0d) this.#atLineStart = true;
      index++;
    }
    return out;
  }
}

/** One diagnostic line about something the sandbox named (a file, an agent's message), made safe to print. */
export function escapeDiagnostic(text: string): string {
  const escaper = new CiOutputEscaper();
  const oneLine = text.replace(/\r/g, '\\r').replace(/\n/g, '\\n');
  return escaper.write(oneLine) + escaper.end();
}
