import { accessSync, constants } from 'node:fs';
import type { Socket } from 'node:net';
import type { LargeReads } from '#protocol/large-reads';
import { HANDOVER_BYTES, handOver, isRelayable, RELAY_PATH } from '#protocol/relay';
import { splice } from '#protocol/splice';

let relayPath: string | null | undefined;

/** The relay binary when this agent runs in the image (SANDBOXD_RELAY names another, for tests). */
function findRelay(): string | null {
  if (relayPath === undefined) {
    const candidate = process.env.SANDBOXD_RELAY ?? RELAY_PATH;
    try {
      accessSync(candidate, constants.X_OK);
      relayPath = candidate;
    } catch {
      relayPath = null;
    }
  }
  return relayPath;
}

/**
 * As splice() from #protocol/splice (`b` read with `bReads`), and once `b` sent
 * HANDOVER_BYTES (and neither socket is TLS, as the agent port's tunnels may
 * be), the rest of the tunnel goes to the relay process (#protocol/relay
 * handOver). Resolves when both sockets are closed.
 */
export function relaySplice(a: Socket, b: Socket, bReads: LargeReads): Promise<{ error?: string }> {
  const done = splice(a, b, { bReads });
  const binary = findRelay();
  if (binary === null) return done;
  bReads.onPiped = () => {
    if (bReads.piped < HANDOVER_BYTES) return;
    bReads.onPiped = undefined;
    if (isRelayable(a) && isRelayable(b)) {
      void handOver(a, b, bReads, { binary, args: [], hasControl: false, detachForward: () => a.unpipe(b) });
    }
  };
  return done;
}
