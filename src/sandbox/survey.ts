import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerInfo, RuntimeDriver } from '../runtime/driver.ts';
import { managedLabels } from '../runtime/labels.ts';
import {
  classify,
  type DirProbe,
  readSandboxLabels,
  type SandboxLabels,
  type Sighting,
  type Verdict,
} from './orphans.ts';
import { type OwnerProbe, probeOwner } from './owner-socket.ts';

/** A sandbox container on the engine, with what its labels say and whether prune would remove it. */
export interface SurveyedSandbox {
  container: ContainerInfo;
  labels: SandboxLabels;
  sighting: Sighting;
  verdict: Verdict;
}

/** Whether a state directory exists; a path this process may not look into is unknown, not gone. */
export async function probeStateDir(stateDir: string): Promise<DirProbe> {
  // A relative path would be read against our working directory, not the control plane's.
  if (!path.isAbsolute(stateDir)) return { state: 'unknown', reason: 'not an absolute path' };
  try {
    return (await stat(stateDir)).isDirectory() ? { state: 'present' } : { state: 'gone' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { state: 'gone' };
    return { state: 'unknown', reason: code ?? String(error) };
  }
}

/** Runs `probe` once per distinct key, however many containers share it (a serve owns many). */
function once<T>(probe: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const results = new Map<string, Promise<T>>();
  return (key) => {
    let result = results.get(key);
    if (result === undefined) {
      result = probe(key);
      results.set(key, result);
    }
    return result;
  };
}

/**
 * Every sandbox container on the engine, of every state directory, oldest first:
 * its state directory looked for and its owner probed (all at once: a probe that
 * gets no answer waits a second).
 */
export async function surveySandboxes(driver: RuntimeDriver): Promise<SurveyedSandbox[]> {
  const containers = await driver.list(managedLabels);
  const dirProbe = once(probeStateDir);
  const ownerProbe = once((socket): Promise<OwnerProbe> => probeOwner(socket));
  const surveyed = await Promise.all(
    containers.map(async (container): Promise<SurveyedSandbox> => {
      const labels = readSandboxLabels(container.labels);
      const [stateDir, owner] = await Promise.all([
        labels.stateDir === undefined ? undefined : dirProbe(labels.stateDir),
        labels.ownerSocket === undefined ? undefined : ownerProbe(labels.ownerSocket),
      ]);
      const sighting = { stateDir, owner };
      return { container, labels, sighting, verdict: classify(labels, sighting) };
    }),
  );
  return surveyed.sort((a, b) => a.container.createdMs - b.container.createdMs);
}
