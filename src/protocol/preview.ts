import { z } from 'zod';

/**
 * Preview tunnels, the door in. The control plane asks the agent over its link
 * (`preview.open`) to connect to a port on the sandbox's loopback; the agent
 * does, then dials this third socket in the read-only socket directory and
 * names the tunnel in one line. After that line the connection carries the
 * bytes between the browser's request and the server in the sandbox. Anything
 * in the sandbox can dial the socket, so a line is honoured only when it names
 * a tunnel the control plane is waiting for (an unguessable id it chose).
 */
export const PREVIEW_SOCKET_NAME = 'preview.sock';

export const PreviewTunnelId = z.string().regex(/^[0-9a-f]{32}$/, 'not a preview tunnel id');

export const PreviewOpen = z
  .object({
    /** A TCP port on the sandbox's loopback (127.0.0.1, else ::1). */
    port: z.number().int().min(1).max(65_535),
    tunnelId: PreviewTunnelId,
  })
  .strict();
export type PreviewOpen = z.infer<typeof PreviewOpen>;

/** The agent's first line on a preview tunnel connection. */
export const PreviewTunnelHello = z.object({ tunnel: PreviewTunnelId }).strict();

/** Bound on that line. */
export const MAX_PREVIEW_HELLO_BYTES = 128;
