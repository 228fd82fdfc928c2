import { parseArgs } from 'node:util';
import { formatAge } from '../policy/units.ts';
import { DockerDriver } from '../runtime/docker/driver.ts';
import { ownerName } from '../sandbox/orphans.ts';
import { type SurveyedSandbox, surveySandboxes } from '../sandbox/survey.ts';
import { inStateDirs, shortId, stateDirOption } from './removal-output.ts';
import { UsageError } from './usage.ts';

/** Printed under the table: the rule `prune` follows, so nobody has to look it up. */
export const PRUNE_LEGEND = `PRUNE yes: its control plane is gone: its state directory no longer exists, or it goes with the
           process that made it (lifetime process: stdio, run, serve --workspace) and that process
           is gone (killed before it could clean up).
PRUNE no:  its owner is running; it is persistent and its serve is merely stopped (the next serve on
           that state directory reconciles it); it was made by an older sandboxd (no owner labels) and
           its state directory exists; or this user cannot see its state directory or owner
           (unknown: another user's 0700 state directory) — unknown is never pruned.
A sandbox's own volume goes with it; a named workspace's (sandboxd-ws-NAME) only with prune --volumes.
sandboxd prune --dry-run lists what prune would remove; sandboxd rm ID removes one sandbox.
`;

function ownerColumn({ labels, sighting }: SurveyedSandbox): string {
  const probe = sighting.owner;
  if (labels.ownerSocket === undefined || probe === undefined) return '-';
  if (probe.state === 'unknown') return `unknown (${probe.reason})`;
  return `${ownerName(labels.ownerSocket, probe)} ${probe.state}`;
}

/** One sandbox for scripts: `sandboxd ls --json`. */
function asJson(sandbox: SurveyedSandbox, nowMs: number) {
  const { container, labels, sighting, verdict } = sandbox;
  const owner = sighting.owner;
  return {
    sandboxId: labels.sandboxId ?? null,
    containerId: container.id,
    name: container.name,
    state: container.state,
    workspace: labels.workspace ?? null,
    ownsVolume: labels.ownsVolume,
    policy: labels.policy ?? null,
    createdAt: new Date(container.createdMs).toISOString(),
    ageSeconds: Math.max(0, Math.round((nowMs - container.createdMs) / 1000)),
    stateDir: labels.stateDir ?? null,
    stateDirExists: sighting.stateDir?.state === 'unknown' ? null : sighting.stateDir?.state === 'present',
    lifetime: labels.lifetime ?? null,
    owner:
      labels.ownerSocket === undefined || owner === undefined
        ? null
        : {
            socket: labels.ownerSocket,
            state: owner.state,
            name: ownerName(labels.ownerSocket, owner),
            ...(owner.state === 'unknown' ? { reason: owner.reason } : {}),
          },
    prune: verdict,
  };
}

/** Columns padded to their widest cell; the last one is not padded. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  '),
    )
    .join('\n');
}

function asRow(sandbox: SurveyedSandbox, nowMs: number): string[] {
  const { container, labels, sighting, verdict } = sandbox;
  const stateDirGone = sighting.stateDir?.state === 'gone' ? ' (gone)' : '';
  return [
    labels.sandboxId ?? container.name,
    shortId(container.id),
    labels.workspace ?? '-',
    labels.policy ?? '-',
    container.state,
    formatAge(nowMs - container.createdMs),
    labels.lifetime ?? '-',
    ownerColumn(sandbox),
    `${labels.stateDir ?? '-'}${stateDirGone}`,
    verdict.isOrphan ? 'yes' : 'no',
    verdict.reason,
  ];
}

const HEADERS = [
  'SANDBOX',
  'CONTAINER',
  'WORKSPACE',
  'POLICY',
  'STATE',
  'AGE',
  'LIFETIME',
  'OWNER',
  'STATE DIR',
  'PRUNE',
  'WHY',
];

/** `sandboxd ls`: every sandboxd container on the engine, whoever made it, and whether prune would remove it. */
export async function lsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, ...stateDirOption() },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const sandboxes = inStateDirs(await surveySandboxes(new DockerDriver()), values['state-dir']);
  const nowMs = Date.now();
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ sandboxes: sandboxes.map((sandbox) => asJson(sandbox, nowMs)) }, null, 2)}\n`,
    );
    return 0;
  }
  if (sandboxes.length === 0) {
    process.stdout.write('no sandboxd containers on this engine\n');
    return 0;
  }
  const table = formatTable([HEADERS, ...sandboxes.map((sandbox) => asRow(sandbox, nowMs))]);
  process.stdout.write(`${table}\n\n${PRUNE_LEGEND}`);
  return 0;
}
