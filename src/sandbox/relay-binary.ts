import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { RELAY_PATH } from '../protocol/relay.ts';
import type { RuntimeDriver } from '../runtime/driver.ts';

/** The relay is some kilobytes; anything near this is not it. */
const MAX_RELAY_BYTES = 4 * 2 ** 20;

/** Whether `binary` runs here (`relay --probe` exits 0). */
function probe(binary: string): Promise<boolean> {
  return new Promise((resolve) =>
    execFile(binary, ['--probe'], { timeout: 5_000 }, (error) => resolve(error === null)),
  );
}

/**
 * The control plane's relay (image/relay/relay.c, metered), which carries a
 * tunnel's bulk bytes in the kernel: SANDBOXD_RELAY names it (`off`: none), or
 * it is copied once out of the worker image `imageRef` into the state
 * directory, one file per image id. The image must be one the operator trusts
 * with the control plane's rights (the default one, built by `sandboxd image
 * build`). Undefined when there is none: tunnels are then carried in Node;
 * null when the image is not there yet (ask again once it is).
 */
export async function provideRelay(
  driver: RuntimeDriver,
  imageRef: string,
  stateDir: string,
  log: Logger,
): Promise<string | undefined | null> {
  const named = process.env.SANDBOXD_RELAY;
  if (named === 'off') return undefined;
  if (named !== undefined && named !== '') {
    if (await probe(named)) return named;
    log.warn({ relay: named }, 'SANDBOXD_RELAY does not run here; tunnels are carried in Node');
    return undefined;
  }
  if (driver.readImageFile === undefined) return undefined;
  const imageId = await driver.imageId(imageRef);
  if (imageId === undefined) return null;
  const directory = path.join(stateDir, 'relay');
  const binary = path.join(
    directory,
    imageId
      .replace(/^sha256:/, '')
      .replace(/[^A-Za-z0-9]/g, '-')
      .slice(0, 24),
  );
  if (await probe(binary)) return binary;
  // By id: the file comes from the image this copy is named after, even if the tag moves meanwhile.
  const bytes = await driver.readImageFile(imageId, RELAY_PATH, MAX_RELAY_BYTES);
  if (bytes === undefined) {
    log.info({ image: imageRef }, 'the worker image has no relay; tunnels are carried in Node');
    return undefined;
  }
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const staging = `${binary}.${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(staging, bytes, { mode: 0o755, flag: 'wx' });
    await rename(staging, binary);
  } finally {
    await rm(staging, { force: true });
  }
  if (await probe(binary)) return binary;
  log.warn(
    { relay: binary },
    'the relay copied from the worker image does not run here; tunnels are carried in Node',
  );
  return undefined;
}
