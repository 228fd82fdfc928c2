import path from 'node:path';
import type Docker from 'dockerode';
import { AGENT_SOCKET_DIR } from '../../protocol/agent-api.ts';
import { AGENT_AUTH_DIR, AGENT_CA_FILE, AGENT_TOKEN_FILE } from '../../protocol/dial.ts';
import type { ContainerSpec } from '../driver.ts';

/**
 * Under runsc the engine's pids limit counts gVisor's own host threads and stub
 * processes, not the sandbox's processes: 944 host tasks for 100 tasks inside,
 * 6 101 for 400, and more than 2 048 for 128 during a fork bomb's churn (runsc
 * 2022-12-19, ptrace platform); when it cannot make one more, gVisor's kernel
 * stops, agent and all. So inside, RLIMIT_NPROC carries the policy's limit (gVisor
 * counts every task of the sandbox's user against it, root included, as the pids
 * cgroup counts every task under runc), and the engine's limit is this multiple
 * of it, twice the worst we saw: it only bounds what the host hands out.
 */
export const RUNSC_HOST_TASKS_PER_TASK = 32;

/** The policy's pids limit as the engine's PidsLimit and the ulimits that carry it, per runtime. */
export function pidsSettings(spec: Pick<ContainerSpec, 'runtime' | 'pidsLimit'>): {
  PidsLimit: number;
  Ulimits: { Name: string; Soft: number; Hard: number }[];
} {
  if (spec.runtime !== 'runsc') return { PidsLimit: spec.pidsLimit, Ulimits: [] };
  return {
    PidsLimit: spec.pidsLimit * RUNSC_HOST_TASKS_PER_TASK,
    Ulimits: [{ Name: 'nproc', Soft: spec.pidsLimit, Hard: spec.pidsLimit }],
  };
}

/**
 * The Docker create request for a worker container. Everything not taken from
 * the spec is hardening that no policy can turn off.
 */
export function containerConfig(spec: ContainerSpec): Docker.ContainerCreateOptions {
  const { uid, gid } = spec.user;
  const tmpfs: Record<string, string> = {};
  for (const mount of spec.tmpfs) {
    const owner = mount.uid === undefined ? '' : `,uid=${mount.uid},gid=${mount.gid ?? mount.uid}`;
    // exec: Docker would add noexec, but a read-only root already rules out planting binaries
    // outside /workspace, and builds (go test, pip) run what they compile in /tmp.
    tmpfs[mount.target] = `rw,exec,nosuid,nodev,size=${mount.sizeBytes},mode=${mount.mode}${owner}`;
  }
  const pids = pidsSettings(spec);
  const workspace = spec.workspace;
  const workspaceMounts: Docker.MountSettings[] =
    workspace.kind === 'volume'
      ? [{ Type: 'volume', Source: workspace.name, Target: '/workspace', ReadOnly: false }]
      : [
          { Type: 'bind', Source: workspace.hostPath, Target: '/workspace', ReadOnly: false },
          ...(workspace.readOnlyPaths ?? []).map(
            (relative): Docker.MountSettings => ({
              Type: 'bind',
              Source: path.join(workspace.hostPath, relative),
              Target: path.posix.join('/workspace', relative),
              ReadOnly: true,
            }),
          ),
        ];
  const dialHome = spec.dialHome;
  if (dialHome !== undefined && dialHome.network === undefined) {
    throw new Error('dialling home over TCP on Docker needs the network the worker joins');
  }
  // connect() works through a read-only bind mount, so the agent can reach the socket but never replace it.
  const homeMounts: Docker.MountSettings[] =
    dialHome === undefined
      ? [{ Type: 'bind', Source: spec.socketDir, Target: AGENT_SOCKET_DIR, ReadOnly: true }]
      : [
          {
            Type: 'bind',
            Source: dialHome.tokenFile,
            Target: path.posix.join(AGENT_AUTH_DIR, AGENT_TOKEN_FILE),
            ReadOnly: true,
          },
          ...(dialHome.caFile === undefined
            ? []
            : [
                {
                  Type: 'bind' as const,
                  Source: dialHome.caFile,
                  Target: path.posix.join(AGENT_AUTH_DIR, AGENT_CA_FILE),
                  ReadOnly: true,
                },
              ]),
        ];
  return {
    name: spec.name,
    Image: spec.image,
    Hostname: spec.hostname,
    User: `${uid}:${gid}`,
    WorkingDir: spec.workingDir,
    Env: Object.entries(spec.env).map(([name, value]) => `${name}=${value}`),
    Labels: spec.labels,
    ...(spec.command === undefined ? {} : { Cmd: spec.command, Entrypoint: [] }),
    NetworkDisabled: dialHome === undefined,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    HostConfig: {
      Runtime: spec.runtime,
      NetworkMode: dialHome?.network ?? 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      CapAdd: [],
      Privileged: false,
      SecurityOpt: ['no-new-privileges:true', `seccomp=${spec.seccompProfile}`],
      Init: true,
      IpcMode: 'private',
      PidMode: '',
      UTSMode: '',
      UsernsMode: '',
      // API 1.41 field (a private cgroup namespace); dockerode's types predate it.
      ...({ CgroupnsMode: 'private' } as object),
      Devices: [],
      PidsLimit: pids.PidsLimit,
      Memory: spec.memoryBytes,
      // Equal to Memory: no swap on top of the memory limit.
      MemorySwap: spec.memoryBytes,
      NanoCpus: spec.nanoCpus,
      // Half the default weight: under contention the control plane (and the engine) outweigh any
      // one sandbox, so a busy sandbox slows its neighbours' tool calls less.
      CpuShares: 512,
      Ulimits: [
        { Name: 'nofile', Soft: spec.nofile, Hard: spec.nofile },
        { Name: 'core', Soft: 0, Hard: 0 },
        ...pids.Ulimits,
      ],
      Tmpfs: tmpfs,
      Mounts: [
        ...workspaceMounts,
        ...homeMounts,
        ...(spec.identity === undefined
          ? []
          : [
              { Type: 'bind' as const, Source: spec.identity.passwd, Target: '/etc/passwd', ReadOnly: true },
              { Type: 'bind' as const, Source: spec.identity.group, Target: '/etc/group', ReadOnly: true },
            ]),
      ],
      RestartPolicy: { Name: 'no' },
      AutoRemove: false,
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
    },
  };
}
