import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import type { HelperResult, HelperSpec, SnapshotEngine, VolumeInfo } from '../driver.ts';

function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number } | undefined)?.statusCode;
}

/** How much of a helper's output is kept: its result line, or the end of an error. */
const OUTPUT_TAIL_BYTES = 4096;

/**
 * The Docker create request for a helper. Hardened like a worker
 * (container-config.ts): no network, read-only root, no new privileges, the
 * policy's seccomp profile, limits; it runs as root only so that the few
 * capabilities it is given (HelperSpec.capabilities) are in effect, and mounts
 * nothing but the volumes named, each read-only unless it is the copy's target.
 */
export function helperConfig(spec: HelperSpec, name: string): Docker.ContainerCreateOptions {
  return {
    name,
    Image: spec.image,
    User: '0:0',
    WorkingDir: '/',
    Entrypoint: [],
    Cmd: ['sh', '-c', spec.script, 'sh', ...spec.args],
    Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    Labels: spec.labels,
    NetworkDisabled: true,
    Tty: false,
    OpenStdin: false,
    HostConfig: {
      // runc even under a runsc policy: the helper runs coreutils over the files, never the workload's code.
      Runtime: 'runc',
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      CapAdd: [...spec.capabilities],
      Privileged: false,
      SecurityOpt: ['no-new-privileges:true', `seccomp=${spec.seccompProfile}`],
      IpcMode: 'private',
      ...({ CgroupnsMode: 'private' } as object),
      Devices: [],
      PidsLimit: spec.pidsLimit,
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      NanoCpus: spec.nanoCpus,
      Ulimits: [{ Name: 'core', Soft: 0, Hard: 0 }],
      Tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=16m,mode=1777' },
      Mounts: spec.mounts.map((mount) => ({
        Type: 'volume' as const,
        Source: mount.volume,
        Target: mount.target,
        ReadOnly: mount.isReadOnly,
        // An empty volume must stay empty: no copy of the image's files into it.
        VolumeOptions: { NoCopy: true } as Docker.MountSettings['VolumeOptions'],
      })),
      RestartPolicy: { Name: 'no' },
      AutoRemove: false,
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
    },
  };
}

/** Snapshots on a Docker engine: volumes, the local driver's overlay mounts, the freezer. */
export class DockerSnapshotEngine implements SnapshotEngine {
  readonly #docker: Docker;

  constructor(docker: Docker) {
    this.#docker = docker;
  }

  async pause(id: string): Promise<void> {
    await this.#docker.getContainer(id).pause();
  }

  async unpause(id: string): Promise<void> {
    try {
      await this.#docker.getContainer(id).unpause();
    } catch (error) {
      // 404: gone; 409: not paused (the engine restarted it meanwhile).
      if (statusCode(error) !== 404 && statusCode(error) !== 409) throw error;
    }
  }

  async volumeInfo(name: string): Promise<VolumeInfo | undefined> {
    try {
      const volume = await this.#docker.getVolume(name).inspect();
      return { labels: volume.Labels ?? {}, mountpoint: volume.Mountpoint };
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  async createOverlayVolume(
    name: string,
    labels: Record<string, string>,
    layers: { lower: string; layer: string },
  ): Promise<void> {
    const [lower, layer] = await Promise.all([this.volumeInfo(layers.lower), this.volumeInfo(layers.layer)]);
    if (lower === undefined || layer === undefined) {
      throw new Error(`overlay volume ${name}: ${lower === undefined ? layers.lower : layers.layer} is gone`);
    }
    // Engine paths (volume names are [A-Za-z0-9_.-]): no comma or colon can reach the mount options.
    const options = `lowerdir=${lower.mountpoint},upperdir=${layer.mountpoint}/upper,workdir=${layer.mountpoint}/work`;
    await this.#docker.createVolume({
      Name: name,
      Driver: 'local',
      DriverOpts: { type: 'overlay', device: 'overlay', o: options },
      Labels: labels,
    });
  }

  async runHelper(spec: HelperSpec): Promise<HelperResult> {
    const name = `sandboxd-helper-${randomBytes(6).toString('hex')}`;
    const container = await this.#docker.createContainer(helperConfig(spec, name));
    try {
      await container.start();
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      const raw = await container.logs({ stdout: true, stderr: true, tail: 40 });
      return { exitCode: StatusCode, output: demultiplex(raw).slice(-OUTPUT_TAIL_BYTES) };
    } finally {
      await container.remove({ force: true }).catch(() => undefined);
    }
  }
}

/** Docker's log stream without a TTY frames each chunk with an 8-byte header; strip it. */
export function demultiplex(raw: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= raw.length) {
    const size = raw.readUInt32BE(offset + 4);
    parts.push(raw.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
