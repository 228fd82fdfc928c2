import { z } from 'zod';

/**
 * Egress tunnels. Each tunnel is its own connection to this second socket in the
 * sandbox's socket directory (bulk bytes never ride the JSON link): the agent
 * sends one request line naming host and port, the control plane answers with
 * one reply line, and after an `ok` the connection carries the tunnel's bytes.
 * Anything in the sandbox can connect to the socket, so the control plane treats
 * every request line as hostile input; the agent only splices.
 */
export const EGRESS_SOCKET_NAME = 'egress.sock';

/** Bound on a request line (host names are at most 253 bytes). */
export const MAX_TUNNEL_REQUEST_BYTES = 1024;
/** Bound on a reply line, which carries a refusal's message. */
export const MAX_TUNNEL_REPLY_BYTES = 4096;
/** A connection that has not sent its request line by then is closed. */
export const TUNNEL_REQUEST_TIMEOUT_MS = 5000;

export const TunnelRequest = z
  .object({
    /** As the client wrote it (CONNECT host or URL host, IPv6 without brackets); checked by the control plane. */
    host: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65_535),
  })
  .strict();
export type TunnelRequest = z.infer<typeof TunnelRequest>;

/**
 * Why a tunnel was refused or failed. The agent puts it in the 403's body and
 * in the X-Sandboxd-Egress-Rule header, so whoever reads the error knows what
 * to ask an operator to allow.
 */
export const EgressRefusal = z.enum([
  'invalid-request',
  'invalid-host',
  'host-not-allowed',
  'ip-literal-not-allowed',
  'port-not-allowed',
  'egress-disabled',
  'limit-connections',
  'limit-total-bytes',
  'address-loopback',
  'address-private',
  'address-link-local',
  'address-metadata',
  'address-multicast',
  'address-reserved',
  'resolve-failed',
  'connect-failed',
]);
export type EgressRefusal = z.infer<typeof EgressRefusal>;

export const TunnelReply = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true) }).strict(),
  z
    .object({
      ok: z.literal(false),
      /** 403 refused by policy, 429 a limit, 502 the destination could not be reached. */
      status: z.number().int().min(400).max(599),
      rule: EgressRefusal,
      message: z.string().max(2048),
    })
    .strict(),
]);
export type TunnelReply = z.infer<typeof TunnelReply>;
