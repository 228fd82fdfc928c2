import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { missingPrograms, parseHostPrograms } from './preflight.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('preflight', () => {
  it('lists ripgrep, which the file tools run on the host in the unit tests', async () => {
    const programs = parseHostPrograms(await readFile(path.join(here, 'host-programs.txt'), 'utf8'));
    assert.deepEqual(
      programs.find(({ program }) => program === 'rg'),
      { program: 'rg', debianPackage: 'ripgrep' },
    );
  });

  it('names a program that is on no directory of PATH, and not one that is', async () => {
    const bin = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-preflight-'));
    await writeFile(path.join(bin, 'present'), '#!/bin/sh\n');
    await chmod(path.join(bin, 'present'), 0o755);
    await writeFile(path.join(bin, 'not-executable'), '');
    const programs = parseHostPrograms('present pkg-a\nabsent pkg-b # comment\nnot-executable pkg-c\n');
    assert.deepEqual(
      missingPrograms(programs, bin).map(({ program }) => program),
      ['absent', 'not-executable'],
    );
  });

  it('refuses a line that is not "program package"', () => {
    assert.throws(() => parseHostPrograms('rg ripgrep extra'), /expected "program package"/);
  });
});
