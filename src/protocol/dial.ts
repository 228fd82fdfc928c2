import { z } from 'zod';
import { SandboxId } from './agent-api.ts';

/**
 * Dialling home over TCP, where there is no socket directory to share (a pod on
 * another node, or a Docker network). Every connection to the control plane's
 * agent port starts with one line naming the sandbox, its token and what the
 * connection is for; the control plane compares the token in constant time and
 * then hands the connection to that sandbox's agent link, egress gate or preview
 * door, which see exactly what they see on their Unix sockets. The port is reachable by every
 * sandbox, so this line is hostile input.
 */
export const DialChannel = z.enum(['link', 'egress', 'preview']);
export type DialChannel = z.infer<typeof DialChannel>;

export const DialHello = z
  .object({
    sandboxId: SandboxId,
    /** HMAC-SHA256 of the sandbox id under the control plane's key, hex. */
    token: z.string().regex(/^[0-9a-f]{64}$/),
    channel: DialChannel,
  })
  .strict();
export type DialHello = z.infer<typeof DialHello>;

/** A dial hello is ~150 bytes. */
export const MAX_DIAL_HELLO_BYTES = 512;
/** A connection that has not said who it is by then is closed. */
export const DIAL_HELLO_TIMEOUT_MS = 5000;

/** Where the worker finds its credentials: a read-only mount (a Secret on Kubernetes). */
export const AGENT_AUTH_DIR = '/run/sandboxd-auth';
export const AGENT_TOKEN_FILE = 'token';
/** The CA that signed the agent port's certificate, when the operator gives one. */
export const AGENT_CA_FILE = 'ca.pem';

/** The agent's environment in TCP mode: `host:port` of the agent port, and whether to speak TLS. */
export const ENV_CONTROL_ADDRESS = 'SANDBOXD_CONTROL_ADDRESS';
export const ENV_CONTROL_TLS = 'SANDBOXD_CONTROL_TLS';

/** `host:port`, `[v6]:port`. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(address);
  const port = Number(match?.[2]);
  if (match === null || port < 1 || port > 65_535) throw new Error(`expected host:port, got "${address}"`);
  const host = match[1] as string;
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}
