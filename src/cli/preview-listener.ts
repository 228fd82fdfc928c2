import type http from 'node:http';
import { z } from 'zod';
import type { Previews } from '../preview/service.ts';
import { CannotStart } from './usage.ts';

/** --preview-port: a port (0: any free one, named in preview URLs), or `off` for no previews. */
export const PreviewPort = z.union([z.literal('off'), z.coerce.number().int().min(0).max(65_535)]);

/**
 * Each loopback address's twin: a browser may try either for a `*.localhost`
 * name, so a listener on one also takes the other, lest another local user
 * bind it and receive the one-time links meant for this one.
 */
const LOOPBACK_TWIN: Record<string, string> = { '127.0.0.1': '::1', '::1': '127.0.0.1' };

/** Errors that say this machine has no such address: nobody can take it either. */
const NO_SUCH_ADDRESS = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/** Attempts at a free port (0) that is free on both loopback addresses. */
const FREE_PORT_ATTEMPTS = 5;

function bind(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/**
 * Binds the preview listener on `host`:`port` (0: a free port), and on a
 * loopback host its twin too, and returns the servers and the port; on
 * localhost over http, preview URLs name that port. A port in use is
 * CannotStart, with `hint` (how to choose another) in its message.
 */
export async function listenForPreviews(
  previews: Previews,
  port: number,
  host: string,
  hint: string,
): Promise<{ servers: http.Server[]; port: number }> {
  const twin = LOOPBACK_TWIN[host];
  for (let attempt = 1; ; attempt++) {
    const first = previews.createServer();
    let bound: number;
    try {
      bound = await bind(first, port, host);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      throw new CannotStart(`the preview port ${port} is in use: ${hint}`);
    }
    const servers = [first];
    if (twin !== undefined) {
      const second = previews.createServer();
      try {
        await bind(second, bound, twin);
        servers.push(second);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? '';
        if (!NO_SUCH_ADDRESS.has(code)) {
          first.close();
          if (code === 'EADDRINUSE' && port === 0 && attempt < FREE_PORT_ATTEMPTS) continue;
          if (code !== 'EADDRINUSE') throw error;
          throw new CannotStart(
            `the preview port ${bound} is taken on ${twin} by another program, which would receive preview links: ${hint}`,
          );
        }
      }
    }
    const { addressing } = previews;
    if (addressing.domain === 'localhost' && addressing.scheme === 'http' && addressing.urlPort === 0) {
      addressing.urlPort = bound;
    }
    return { servers, port: bound };
  }
}
