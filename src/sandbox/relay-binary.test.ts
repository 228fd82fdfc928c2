import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { buildRelay } from '../agent/exec/test-launcher.ts';
import { RELAY_PATH } from '../protocol/relay.ts';
import { MemoryDriver } from '../runtime/memory.ts';
import { provideRelay } from './relay-binary.ts';

const IMAGE = 'sandboxd-worker:test';
const log = pino({ level: 'silent' });

/** A driver whose image holds `file` at the relay's path, counting the reads. */
function driverWith(file: Buffer | undefined) {
  const driver = new MemoryDriver({ images: [IMAGE] });
  const reads: string[] = [];
  return Object.assign(driver, {
    reads,
    readImageFile: async (ref: string, filePath: string) => {
      reads.push(`${ref}:${filePath}`);
      return file;
    },
  });
}

describe('the control plane copy of the relay', () => {
  let stateDir: string;
  let relay: Buffer | undefined;
  let built: string | undefined;
  before(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-relay-copy-'));
    built = buildRelay(await mkdtemp(path.join(stateDir, 'built-')));
    relay = built === undefined ? undefined : readFileSync(built);
  });
  afterEach(() => {
    delete process.env.SANDBOXD_RELAY;
  });
  after(() => rm(stateDir, { recursive: true, force: true }));

  test('is copied out of the worker image once, runnable by the control plane only, then reused', async (t) => {
    if (relay === undefined) return t.skip('no C compiler on this host to build the relay');
    const driver = driverWith(relay);
    const found = await provideRelay(driver, IMAGE, stateDir, log);
    assert.equal(found, path.join(stateDir, 'relay', 'sandboxd-worker-test'));
    assert.deepEqual(driver.reads, [`sha256:${IMAGE}:${RELAY_PATH}`]);
    assert.equal(statSync(found).mode & 0o777, 0o755);
    assert.equal(statSync(path.dirname(found)).mode & 0o777, 0o700);
    assert.equal(await provideRelay(driver, IMAGE, stateDir, log), found);
    assert.equal(driver.reads.length, 1, 'the copy is reused');
  });

  test('none when the image has none or its file does not run here; null while the image is missing', async () => {
    const empty = new MemoryDriver({ images: ['empty:image'] });
    const none = Object.assign(empty, { readImageFile: async () => undefined });
    assert.equal(await provideRelay(none, 'empty:image', stateDir, log), undefined);
    assert.equal(await provideRelay(driverWith(relay), 'missing:image', stateDir, log), null);
    const other = new MemoryDriver({ images: ['other:image'] });
    const broken = Object.assign(other, { readImageFile: async () => Buffer.from('not a program') });
    assert.equal(await provideRelay(broken, 'other:image', stateDir, log), undefined);
  });

  test('SANDBOXD_RELAY names one (or off), and the image is not read', async (t) => {
    const driver = driverWith(relay);
    process.env.SANDBOXD_RELAY = 'off';
    assert.equal(await provideRelay(driver, IMAGE, stateDir, log), undefined);
    process.env.SANDBOXD_RELAY = path.join(stateDir, 'missing');
    assert.equal(await provideRelay(driver, IMAGE, stateDir, log), undefined);
    if (relay === undefined) return t.skip('no C compiler on this host to build the relay');
    process.env.SANDBOXD_RELAY = built;
    assert.equal(await provideRelay(driver, IMAGE, stateDir, log), built);
    assert.deepEqual(driver.reads, []);
  });
});
