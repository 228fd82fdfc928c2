import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerInfo } from '../runtime/driver.ts';
import { LABEL_ID, LABEL_STATE_DIR } from '../runtime/labels.ts';
import { classify, readSandboxLabels } from '../sandbox/orphans.ts';
import type { SurveyedSandbox } from '../sandbox/survey.ts';
import { inStateDirs } from './removal-output.ts';
import { matchSandboxes } from './rm.ts';

function sandbox(id: string, containerId: string, stateDir: string): SurveyedSandbox {
  const labels = { [LABEL_ID]: id, [LABEL_STATE_DIR]: stateDir };
  const container: ContainerInfo = {
    id: containerId,
    name: `sandboxd-${id}-abc123`,
    state: 'running',
    labels,
    exitCode: null,
    isOomKilled: false,
    imageId: 'sha256:0',
    createdMs: 0,
  };
  const sighting = { stateDir: { state: 'present' as const }, owner: undefined };
  return {
    container,
    labels: readSandboxLabels(labels),
    sighting,
    verdict: classify(readSandboxLabels(labels), sighting),
  };
}

const one = sandbox('ws-default', 'aa11bb22cc33dd44', '/srv/one');
const two = sandbox('ws-default', 'aa11ff00ee99', '/srv/two');
const task = sandbox('sb-0123456789ab', 'bb00', '/srv/one');
const all = [one, two, task];

describe('which sandboxes rm means', () => {
  it('takes a sandbox id or container name exactly', () => {
    assert.deepEqual(matchSandboxes(all, 'sb-0123456789ab'), [task]);
    assert.deepEqual(matchSandboxes(all, 'sandboxd-sb-0123456789ab-abc123'), [task]);
    assert.deepEqual(matchSandboxes(all, 'sb-0123'), [], 'no prefix match on sandbox ids');
  });

  it('takes a container id prefix, and returns every candidate when it is ambiguous', () => {
    assert.deepEqual(matchSandboxes(all, 'aa11b'), [one]);
    assert.deepEqual(matchSandboxes(all, 'aa11'), [one, two]);
  });

  it('finds a workspace id in two state directories ambiguous until --state-dir picks one', () => {
    assert.deepEqual(matchSandboxes(all, 'ws-default'), [one, two]);
    assert.deepEqual(matchSandboxes(inStateDirs(all, ['/srv/two/']), 'ws-default'), [two]);
  });
});
