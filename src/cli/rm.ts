import { parseArgs } from 'node:util';
import { DockerDriver } from '../runtime/docker/driver.ts';
import { ownerName } from '../sandbox/orphans.ts';
import { removeSandboxes } from '../sandbox/removal.ts';
import { type SurveyedSandbox, surveySandboxes } from '../sandbox/survey.ts';
import { inStateDirs, printRemovals, sandboxName, shortId, stateDirOption } from './removal-output.ts';
import { UsageError } from './usage.ts';

/**
 * The sandboxes a name given to `rm` means: by sandbox id or container name
 * exactly, else by container id prefix (as `docker rm` takes it).
 */
export function matchSandboxes(sandboxes: SurveyedSandbox[], query: string): SurveyedSandbox[] {
  const exact = sandboxes.filter(
    (sandbox) => sandbox.labels.sandboxId === query || sandbox.container.name === query,
  );
  if (exact.length > 0 || !/^[0-9a-f]+$/.test(query)) return exact;
  return sandboxes.filter((sandbox) => sandbox.container.id.startsWith(query));
}

function ambiguity(query: string, candidates: SurveyedSandbox[]): string {
  const lines = candidates.map(
    (sandbox) =>
      `  ${shortId(sandbox.container.id)}  ${sandbox.labels.sandboxId ?? sandbox.container.name}  ${sandbox.labels.stateDir ?? '-'}`,
  );
  return `${query} matches ${candidates.length} sandboxes; name one by its container id (or add --state-dir DIR):\n${lines.join('\n')}`;
}

/** `sandboxd rm ID…`: removes the named sandboxes, with their socket directories and the volumes they own. */
export async function rmCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: stateDirOption() });
  if (positionals.length === 0) throw new UsageError('rm needs the id of a sandbox (sandboxd ls lists them)');
  const driver = new DockerDriver();
  const everyone = await surveySandboxes(driver);
  const scope = inStateDirs(everyone, values['state-dir']);
  const chosen = new Set<SurveyedSandbox>();
  let isComplete = true;
  for (const query of positionals) {
    const candidates = matchSandboxes(scope, query);
    if (candidates.length === 1) {
      chosen.add(candidates[0] as SurveyedSandbox);
      continue;
    }
    isComplete = false;
    process.stderr.write(
      `sandboxd: ${candidates.length === 0 ? `no sandbox ${query} (sandboxd ls lists them)` : ambiguity(query, candidates)}\n`,
    );
  }
  for (const sandbox of chosen) {
    const { labels, sighting } = sandbox;
    if (labels.ownerSocket !== undefined && sighting.owner?.state === 'alive') {
      process.stderr.write(
        `sandboxd: note: ${sandboxName(sandbox)} belongs to ${ownerName(labels.ownerSocket, sighting.owner)}, which is running\n`,
      );
    }
  }
  const report = await removeSandboxes(driver, [...chosen], everyone, { includeNamedVolumes: false });
  printRemovals(report, { withReason: false, volumeHint: '' });
  return isComplete && report.isComplete ? 0 : 1;
}
