import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import tar from 'tar-stream';
import type {
  ContainerInfo,
  ContainerSpec,
  ContainerState,
  ContainerUsage,
  RuntimeDriver,
  RuntimeFacts,
} from '../driver.ts';
import { LABEL_HELPER } from '../labels.ts';
import { containerConfig } from './container-config.ts';
import { DockerSnapshotEngine, demultiplex } from './snapshot-engine.ts';

function labelFilter(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}

function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number } | undefined)?.statusCode;
}

/** The one file of an archive the engine made of a single path: its bytes, if it is a regular file within `maxBytes`. */
async function firstRegularFile(archive: Readable, maxBytes: number): Promise<Buffer | undefined> {
  // Small by contract: read whole (headers and padding on top of the file), then parsed.
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of archive) {
    length += (chunk as Buffer).length;
    if (length > maxBytes + 64 * 1024) {
      archive.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  const extract = tar.extract();
  extract.end(Buffer.concat(chunks));
  try {
    for await (const entry of extract) {
      if (entry.header.type !== 'file' || (entry.header.size ?? 0) > maxBytes) return undefined;
      const parts: Buffer[] = [];
      for await (const part of entry) parts.push(part as Buffer);
      return Buffer.concat(parts);
    }
    return undefined;
  } finally {
    extract.destroy();
  }
}

/** Runs worker containers on a Docker Engine (API 1.41 and later) through dockerode. */
export class DockerDriver implements RuntimeDriver {
  readonly name = 'docker';
  readonly docker: Docker;
  readonly snapshots: DockerSnapshotEngine;

  constructor(docker: Docker = new Docker()) {
    this.docker = docker;
    this.snapshots = new DockerSnapshotEngine(docker);
  }

  async facts(): Promise<RuntimeFacts> {
    const [info, version] = await Promise.all([this.docker.info(), this.docker.version()]);
    return {
      engineVersion: version.Version,
      apiVersion: version.ApiVersion,
      runtimes: Object.keys(info.Runtimes ?? {}),
      cpus: info.NCPU,
      memoryBytes: info.MemTotal,
    };
  }

  async hasImage(ref: string): Promise<boolean> {
    return (await this.imageId(ref)) !== undefined;
  }

  async imageId(ref: string): Promise<string | undefined> {
    try {
      return (await this.docker.getImage(ref).inspect()).Id;
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<Record<string, string>> {
    // The engine answers an existing name with the existing volume, its labels unchanged.
    await this.docker.createVolume({ Name: name, Labels: labels });
    return (await this.docker.getVolume(name).inspect()).Labels ?? {};
  }

  async removeVolume(name: string): Promise<void> {
    try {
      await this.docker.getVolume(name).remove();
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
    }
  }

  async listVolumes(labels: Record<string, string>): Promise<string[]> {
    return (await this.#volumes(labels)).map((volume) => volume.Name);
  }

  async listVolumeLabels(labels: Record<string, string>): Promise<Record<string, string>[]> {
    return (await this.#volumes(labels)).map((volume) => volume.Labels ?? {});
  }

  async #volumes(labels: Record<string, string>) {
    const result = await this.docker.listVolumes({ filters: JSON.stringify({ label: labelFilter(labels) }) });
    return result.Volumes ?? [];
  }

  async readImageFile(ref: string, filePath: string, maxBytes: number): Promise<Buffer | undefined> {
    // A container created and never started: its file system is the image's.
    const container = await this.docker.createContainer({
      Image: ref,
      // Named for what it is, should this process die before it removes it.
      Labels: { [LABEL_HELPER]: 'read-image-file' },
      Entrypoint: ['/nonexistent'],
      Cmd: [],
      NetworkDisabled: true,
      HostConfig: { NetworkMode: 'none', AutoRemove: false },
    });
    try {
      let archive: Readable;
      try {
        archive = (await container.getArchive({ path: filePath })) as Readable;
      } catch (error) {
        if (statusCode(error) === 404) return undefined;
        throw error;
      }
      return await firstRegularFile(archive, maxBytes);
    } finally {
      await container.remove({ force: true, v: true }).catch(() => {});
    }
  }

  async create(spec: ContainerSpec): Promise<string> {
    const container = await this.docker.createContainer(containerConfig(spec));
    return container.id;
  }

  async start(id: string): Promise<void> {
    await this.docker.getContainer(id).start();
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: graceSeconds });
    } catch (error) {
      // 304: already stopped; 404: already gone.
      if (statusCode(error) !== 304 && statusCode(error) !== 404) throw error;
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: false });
    } catch (error) {
      // 404: already gone; 409: removal already in progress.
      if (statusCode(error) !== 404 && statusCode(error) !== 409) throw error;
    }
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      const info = await this.docker.getContainer(id).inspect();
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ''),
        state: info.State.Status as ContainerState,
        labels: info.Config.Labels ?? {},
        exitCode: info.State.Running ? null : info.State.ExitCode,
        isOomKilled: info.State.OOMKilled,
        imageId: info.Image,
        createdMs: Date.parse(info.Created),
      };
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  async usage(id: string): Promise<ContainerUsage | undefined> {
    try {
      // one-shot: the engine answers at once instead of waiting a second for a second sample.
      const stats = (await this.docker
        .getContainer(id)
        .stats({ stream: false, 'one-shot': true } as { stream: false })) as unknown as {
        cpu_stats?: { cpu_usage?: { total_usage?: number } };
        memory_stats?: { usage?: number; stats?: { inactive_file?: number } };
      };
      const memory = (stats.memory_stats?.usage ?? 0) - (stats.memory_stats?.stats?.inactive_file ?? 0);
      return {
        cpuTotalNs: stats.cpu_stats?.cpu_usage?.total_usage ?? 0,
        memoryBytes: Math.max(0, memory),
        atMs: Date.now(),
      };
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const containers = await this.docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: labelFilter(labels) }),
    });
    return containers.map((container) => ({
      id: container.Id,
      name: (container.Names[0] ?? '').replace(/^\//, ''),
      state: container.State as ContainerState,
      labels: container.Labels ?? {},
      exitCode: null,
      isOomKilled: false,
      imageId: container.ImageID,
      createdMs: container.Created * 1000,
    }));
  }

  async logsTail(id: string, lines: number): Promise<string> {
    try {
      const output = await this.docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines });
      return demultiplex(output);
    } catch {
      return '';
    }
  }
}
