import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildLauncher } from '../../exec/test-launcher.ts';

// Every test of commands.test.ts once more, with commands started by the launcher as in the image.
const directory = mkdtempSync(path.join(os.tmpdir(), 'sandboxd-launched-'));
after(() => rmSync(directory, { recursive: true, force: true }));
const binary = buildLauncher(directory);

if (binary === undefined) {
  it('runs the command tools through the launcher', {
    skip: 'no C compiler on this host to build image/launcher/launcher.c',
  });
} else {
  process.env.SANDBOXD_TEST_LAUNCHER = binary;
  await describe('the command tools through the launcher', async () => {
    await import('./commands.test.ts');
  });
}
