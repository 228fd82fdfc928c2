import path from 'node:path';
import type { VolumeFate } from '../sandbox/orphans.ts';
import type { RemovalReport, VolumeRemoval } from '../sandbox/removal.ts';
import type { SurveyedSandbox } from '../sandbox/survey.ts';

/**
 * What `ls`, `rm` and `prune` share: the --state-dir filter, and how a sandbox
 * and a removal are told to the person at the terminal.
 */

/** `--state-dir DIR`, repeatable: limits a command to the sandboxes of those state directories. */
export function stateDirOption() {
  return { 'state-dir': { type: 'string' as const, multiple: true as const, default: [] as string[] } };
}

/** Only the sandboxes of the given state directories; all of them when none is given. */
export function inStateDirs(sandboxes: SurveyedSandbox[], stateDirs: string[]): SurveyedSandbox[] {
  if (stateDirs.length === 0) return sandboxes;
  const wanted = new Set(stateDirs.map((dir) => path.resolve(dir)));
  return sandboxes.filter(
    (sandbox) => sandbox.labels.stateDir !== undefined && wanted.has(path.resolve(sandbox.labels.stateDir)),
  );
}

export function shortId(containerId: string): string {
  return containerId.slice(0, 12);
}

/** "sb-1a2b (container 0123456789ab)", with whatever else is named. */
export function sandboxName(sandbox: SurveyedSandbox, extra: string[] = []): string {
  const things = [`container ${shortId(sandbox.container.id)}`, ...extra];
  return `${sandbox.labels.sandboxId ?? sandbox.container.name} (${things.join(', ')})`;
}

/** One line about a volume's fate; `hint` is added to a named workspace volume that stays. */
export function volumeLine(fate: VolumeFate | VolumeRemoval, verb: string, hint: string): string {
  if ('error' in fate && fate.error !== undefined)
    return `could not remove volume ${fate.volume}: ${fate.error}`;
  if (fate.isRemoved) return `${verb} volume ${fate.volume} (${fate.reason})`;
  return `kept volume ${fate.volume}: ${fate.reason}${fate.code === 'named' ? hint : ''}`;
}

/**
 * Prints what was removed on stdout and what failed on stderr. `withReason`
 * adds why each sandbox was chosen (prune's verdict).
 */
export function printRemovals(
  report: RemovalReport,
  options: { withReason: boolean; volumeHint: string },
): void {
  for (const removal of report.containers) {
    const reason = options.withReason ? `: ${removal.sandbox.verdict.reason}` : '';
    if (removal.isRemoved) {
      process.stdout.write(`removed ${sandboxName(removal.sandbox, removal.alsoRemoved)}${reason}\n`);
      for (const note of removal.notes) process.stdout.write(`  note: ${note}\n`);
    } else {
      process.stderr.write(
        `sandboxd: could not remove ${sandboxName(removal.sandbox)}: ${removal.notes.join('; ')}\n`,
      );
    }
  }
  for (const volume of report.volumes) {
    const line = volumeLine(volume, 'removed', options.volumeHint);
    (volume.error === undefined ? process.stdout : process.stderr).write(`${line}\n`);
  }
}
