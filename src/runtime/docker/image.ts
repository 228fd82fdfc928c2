import type Docker from 'dockerode';

export type BuildProgress = (line: string) => void;

interface BuildEvent {
  stream?: string;
  status?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string };
}

/**
 * Builds an image from files under `contextDir` with the engine's builder,
 * reporting each build step as it happens. Fails with the builder's message.
 */
export async function buildImage(
  docker: Docker,
  options: {
    contextDir: string;
    files: string[];
    dockerfile: string;
    tag: string;
    onProgress: BuildProgress;
  },
): Promise<void> {
  const stream = await docker.buildImage(
    { context: options.contextDir, src: options.files },
    { t: options.tag, dockerfile: options.dockerfile, rm: true, forcerm: true },
  );
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, events: BuildEvent[]) => {
        const failure = error?.message ?? events.find((event) => event.error)?.error;
        if (failure) reject(new Error(`image build failed: ${failure}`));
        else resolve();
      },
      (event: BuildEvent) => {
        const text = event.stream ?? event.status ?? '';
        for (const line of text.split('\n')) {
          if (line.trim().length > 0) options.onProgress(line.trimEnd());
        }
      },
    );
  });
}
