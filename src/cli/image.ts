import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Docker from 'dockerode';
import { packageRoot } from '../policy/package-files.ts';
import { DEFAULT_WORKER_IMAGE } from '../policy/schema.ts';
import { buildImage } from '../runtime/docker/image.ts';
import { UsageError } from './usage.ts';

/** `sandboxd image build`: the worker image from image/worker.Dockerfile and the agent bundle. */
export async function imageCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb !== 'build')
    throw new UsageError(`unknown image command ${verb ?? '(none)'}; try: sandboxd image build`);
  const { values } = parseArgs({
    args: rest,
    options: { tag: { type: 'string', default: DEFAULT_WORKER_IMAGE } },
  });
  const root = packageRoot();
  if (!existsSync(path.join(root, 'dist/agent.mjs'))) {
    throw new UsageError('dist/agent.mjs is missing: run `npm run build` first');
  }
  const docker = new Docker();
  const started = performance.now();
  process.stderr.write(`building ${values.tag} from image/worker.Dockerfile\n`);
  await buildImage(docker, {
    contextDir: root,
    files: [
      'image/worker.Dockerfile',
      'image/launcher/launcher.c',
      'image/relay/relay.c',
      'image/relay/build.sh',
      'image/statx-compat/statx-compat.c',
      'dist/agent.mjs',
    ],
    dockerfile: 'image/worker.Dockerfile',
    tag: values.tag,
    onProgress: (line) => {
      if (/^(Step \d+\/\d+|Successfully)/.test(line)) {
        process.stderr.write(`  ${line}\n`);
      }
    },
  });
  process.stderr.write(`built ${values.tag} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}
