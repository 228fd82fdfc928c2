import { parseArgs } from 'node:util';
import { DockerDriver } from '../runtime/docker/driver.ts';
import { volumeFates } from '../sandbox/orphans.ts';
import { removeSandboxes } from '../sandbox/removal.ts';
import { type SurveyedSandbox, surveySandboxes } from '../sandbox/survey.ts';
import { inStateDirs, printRemovals, sandboxName, stateDirOption, volumeLine } from './removal-output.ts';
import { UsageError } from './usage.ts';

const VOLUME_HINT = ' (prune --volumes removes it)';

/** Lists what prune would remove and why, removing nothing. */
function printPlan(
  orphans: SurveyedSandbox[],
  everyone: SurveyedSandbox[],
  includeNamedVolumes: boolean,
): void {
  for (const sandbox of orphans) {
    process.stdout.write(`would remove ${sandboxName(sandbox)}: ${sandbox.verdict.reason}\n`);
  }
  const staying = everyone.filter((sandbox) => !orphans.includes(sandbox)).map((sandbox) => sandbox.labels);
  const fates = volumeFates(
    orphans.map((sandbox) => sandbox.labels),
    staying,
    includeNamedVolumes,
  );
  for (const fate of fates) process.stdout.write(`${volumeLine(fate, 'would remove', VOLUME_HINT)}\n`);
}

/**
 * `sandboxd prune`: removes the sandboxes whose control plane is gone
 * (sandbox/orphans.ts says which), with the volumes they own; named workspace
 * volumes only with --volumes.
 */
export async function pruneCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'dry-run': { type: 'boolean', default: false },
      volumes: { type: 'boolean', default: false },
      ...stateDirOption(),
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const driver = new DockerDriver();
  const everyone = await surveySandboxes(driver);
  const scope = inStateDirs(everyone, values['state-dir']);
  const orphans = scope.filter((sandbox) => sandbox.verdict.isOrphan);
  for (const sandbox of scope) {
    if (sandbox.verdict.code === 'cannot-tell') {
      process.stderr.write(`sandboxd: not pruned: ${sandboxName(sandbox)}: ${sandbox.verdict.reason}\n`);
    }
  }
  if (orphans.length === 0) {
    const checked =
      scope.length === 0 ? 'no sandboxd containers' : `${scope.length} sandboxes kept; sandboxd ls says why`;
    process.stdout.write(`nothing to prune (${checked})\n`);
    return 0;
  }
  if (values['dry-run']) {
    printPlan(orphans, everyone, values.volumes);
    process.stdout.write(`dry run: ${orphans.length} of ${scope.length} sandboxes would be removed\n`);
    return 0;
  }
  const report = await removeSandboxes(driver, orphans, everyone, { includeNamedVolumes: values.volumes });
  printRemovals(report, { withReason: true, volumeHint: VOLUME_HINT });
  return report.isComplete ? 0 : 1;
}
