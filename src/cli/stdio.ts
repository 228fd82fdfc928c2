import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { StdioServerTransport, serveStdio } from '@modelcontextprotocol/server/stdio';
import type { Logger } from 'pino';
import { egressLookupFromEnv } from '../egress/resolve.ts';
import { instructionsFor } from '../mcp/instructions.ts';
import { SpeakableVersionTransport } from '../mcp/protocol-versions.ts';
import { createMcpServer } from '../mcp/server.ts';
import { handleTarget } from '../mcp/target.ts';
import { type LoadedPolicy, loadPolicy } from '../policy/load.ts';
import { Previews } from '../preview/service.ts';
import { DockerDriver } from '../runtime/docker/driver.ts';
import { SandboxHandle } from '../sandbox/handle.ts';
import { SandboxManager } from '../sandbox/manager.ts';
import { claimProcessSocket } from '../sandbox/owner-socket.ts';
import { defaultStateDir, prepareStateDir } from '../sandbox/state-dir.ts';
import { listenForPreviews, PreviewPort } from './preview-listener.ts';
import { UsageError } from './usage.ts';
import { type HostWorkspace, hostWorkspace } from './workspace-dir.ts';

/**
 * `sandboxd stdio`: an MCP server on stdin/stdout for a local client. Every tool
 * runs in a hardened container over the folder; when the client goes away the
 * container is removed and the folder kept.
 */
export async function stdioCommand(args: string[], log: Logger): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      workspace: { type: 'string', short: 'w' },
      policy: { type: 'string', short: 'p', default: 'default' },
      eager: { type: 'boolean', default: false },
      'git-write': { type: 'boolean', default: false },
      'preview-port': { type: 'string', default: '0' },
    },
  });
  const previewPort = parsePreviewPort(values['preview-port']);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  if (values.workspace === undefined) throw new UsageError('stdio needs --workspace DIR');
  const workspace = await hostWorkspace(values.workspace);
  const policy = await loadPolicy(values.policy);
  const stateDir = defaultStateDir();
  await prepareStateDir(stateDir);
  const owner = await claimProcessSocket(stateDir, 'stdio');
  try {
    return await serveStdioHolding(
      { ...values, previewPort },
      workspace,
      policy,
      new SandboxManager({
        driver: new DockerDriver(),
        stateDir,
        log,
        controlSocket: owner.path,
        egressLookup: egressLookupFromEnv(process.env, log),
      }),
      log,
    );
  } finally {
    await owner.close();
  }
}

/** --preview-port, by serve's rule; stdio's listener is on loopback. */
function parsePreviewPort(text: string): number | 'off' {
  const parsed = PreviewPort.safeParse(text);
  if (!parsed.success)
    throw new UsageError(`--preview-port: a port (0 for any free one) or off, got "${text}"`);
  return parsed.data;
}

async function serveStdioHolding(
  values: { eager: boolean; 'git-write': boolean; previewPort: number | 'off' },
  workspace: HostWorkspace,
  policy: LoadedPolicy,
  manager: SandboxManager,
  log: Logger,
): Promise<number> {
  const handle = new SandboxHandle(
    manager,
    `stdio-${randomBytes(4).toString('hex')}`,
    async () => ({
      policy,
      workspace: { kind: 'bind', hostPath: workspace.path },
      user: workspace.user,
      isGitWritable: values['git-write'],
    }),
    { name: 'local', kind: 'bind', source: workspace.path, policy: policy.policy.name },
  );
  // Previews on loopback, as serve's: preview_url gives a link the developer opens in a browser.
  // Not kept across restarts: they go with this process, as its sandbox does. Bound before any
  // sandbox exists, so that a port in use stops nothing half-made.
  const previews =
    values.previewPort === 'off'
      ? undefined
      : new Previews({
          manager,
          addressing: { domain: 'localhost', scheme: 'http', urlPort: 0 },
          log,
          isDurable: false,
        });
  const listener =
    previews === undefined
      ? undefined
      : await listenForPreviews(
          previews,
          values.previewPort as number,
          '127.0.0.1',
          'give previews another with --preview-port N, or turn them off with --preview-port off',
        ).catch((error: unknown) => {
          previews.close();
          throw error;
        });
  try {
    if (values.eager) await handle.sandbox();
    const target = handleTarget(
      handle,
      previews === undefined ? {} : { grantPreview: previews.grantForSession },
    );
    log.info(
      {
        workspace: workspace.path,
        policy: policy.policy.name,
        eager: values.eager,
        previews: listener === undefined ? 'off' : `http://127.0.0.1:${listener.port}`,
      },
      'serving MCP on stdio',
    );
    const server = serveStdio(
      async () => createMcpServer(target, { instructions: await instructionsFor(target), log }),
      {
        transport: new SpeakableVersionTransport(new StdioServerTransport()),
        onerror: (error) => log.warn({ error: error.message }, 'stdio transport error'),
      },
    );
    await new Promise<void>((resolve) => {
      process.stdin.once('end', resolve);
      process.stdin.once('close', resolve);
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    log.info('client went away; removing the sandbox');
    await server.close().catch(() => undefined);
  } finally {
    for (const previewServer of listener?.servers ?? []) {
      previewServer.closeAllConnections();
      previewServer.close();
    }
    previews?.close();
    await manager.destroyAll();
  }
  return 0;
}
