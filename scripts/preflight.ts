/**
 * Runs before the tests: names every host program from scripts/host-programs.txt
 * that is not on PATH, in one line each, and stops. Without it a missing program
 * shows up as twenty unrelated test failures (`spawn rg ENOENT`).
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const listFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'host-programs.txt');

export interface HostProgram {
  program: string;
  debianPackage: string;
}

export function parseHostPrograms(text: string): HostProgram[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line.length > 0)
    .map((line) => {
      const [program, debianPackage, extra] = line.split(/\s+/);
      if (program === undefined || debianPackage === undefined || extra !== undefined)
        throw new Error(`host-programs.txt: expected "program package", got "${line}"`);
      return { program, debianPackage };
    });
}

function isOnPath(program: string, searchPath: string): boolean {
  return searchPath
    .split(path.delimiter)
    .filter((directory) => directory.length > 0)
    .some((directory) => {
      try {
        accessSync(path.join(directory, program), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

export function missingPrograms(programs: HostProgram[], searchPath: string): HostProgram[] {
  return programs.filter(({ program }) => !isOnPath(program, searchPath));
}

if (import.meta.main) {
  const missing = missingPrograms(parseHostPrograms(readFileSync(listFile, 'utf8')), process.env.PATH ?? '');
  for (const { program, debianPackage } of missing) {
    process.stderr.write(
      `preflight: the tests need \`${program}\` on this host and it is not on PATH ` +
        `(Debian package ${debianPackage}; \`bash scripts/test.sh\` installs it)\n`,
    );
  }
  if (missing.length > 0) process.exit(1);
  process.stdout.write('preflight: every host program the tests use is here\n');
}
