import { realpath } from 'node:fs/promises';
import { PROTOCOL_VERSION } from '#protocol/agent-api';
import { defaultAgentLimits } from '#protocol/limits';
import { dialerFromEnv } from './dial.ts';
import { Dispatcher } from './dispatch.ts';
import { EgressProxy } from './egress-proxy.ts';
import { setEgressProxy } from './exec/env.ts';
import { Launcher } from './exec/launcher.ts';
import { Link } from './link.ts';
import { createAgentLog, type LogLevel } from './log.ts';
import { PreviewDialer } from './preview-dialer.ts';
import type { ToolContext } from './tools/context.ts';
import { createToolRegistry } from './tools/registry.ts';

declare const SANDBOXD_VERSION: string | undefined;
const agentVersion = typeof SANDBOXD_VERSION === 'string' ? SANDBOXD_VERSION : 'dev';

/** The agent inside the worker container: dial home, serve tools until told to stop. */
async function main(): Promise<void> {
  const log = createAgentLog((process.env.SANDBOXD_AGENT_LOG_LEVEL as LogLevel | undefined) ?? 'info');
  const dialer = await dialerFromEnv(process.env);
  const workspaceRoot = await realpath(process.env.SANDBOXD_WORKSPACE ?? '/workspace');
  const home = process.env.HOME ?? '/home/sandbox';
  const context: ToolContext = { workspaceRoot, limits: defaultAgentLimits };
  const launcher = new Launcher({ log });
  const registry = createToolRegistry(() => context, home, launcher);
  // The launcher starts once the control plane has its ready agent: its spawn (a fork of
  // this process) would otherwise delay the reply to configure, and with it the cold start.
  // Tunnels dial home as the link does: the egress socket beside the control socket, or the agent port.
  const egressProxy = new EgressProxy({
    dialer,
    log,
    onChange: setEgressProxy,
  });
  const previews = new PreviewDialer(dialer);
  const dispatcher = new Dispatcher(registry, context, {
    onConfigured: () => setImmediate(() => launcher.start()),
    egressProxy,
    previews,
  });
  const link = new Link({
    dialer,
    dispatcher,
    log,
    hello: () => ({
      protocolVersion: PROTOCOL_VERSION,
      agentVersion,
      pid: process.pid,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      activeCommands: registry.commands.activeCount,
    }),
  });
  const stop = (signal: string) => {
    log('info', 'stopping', { signal });
    registry.commands.killAll();
    launcher.close();
    void egressProxy.setEnabled(false);
    previews.closeAll();
    link.close();
    setTimeout(() => process.exit(0), 100).unref();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  link.start();
}

// The image build runs `node agent.mjs --warm-compile-cache` once with NODE_COMPILE_CACHE set:
// loading the bundle is all that takes, and every sandbox then starts from V8's cached code
// instead of compiling the whole half-megabyte bundle again.
if (process.argv[2] !== '--warm-compile-cache') {
  main().catch((error: unknown) => {
    process.stderr.write(
      `${JSON.stringify({ level: 60, time: Date.now(), name: 'agent', msg: 'agent failed to start', error: String(error) })}\n`,
    );
    process.exit(1);
  });
}
