import type http from 'node:http';
import type { Previews } from '../preview/service.ts';
import { CannotStart } from './usage.ts';

/**
 * Binds the preview listener on `host`:`port` (0: a free port) and returns the
 * port bound; on localhost over http, preview URLs name that port. A port in
 * use is CannotStart, saying what to do about it.
 */
export async function listenForPreviews(
  previews: Previews,
  port: number,
  host: string,
): Promise<{ server: http.Server; port: number }> {
  const server = previews.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new CannotStart(
              `the preview port ${port} is in use: give previews another with --preview-port N, or turn them off with --preview-port off`,
            )
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : 0;
  const { addressing } = previews;
  if (addressing.domain === 'localhost' && addressing.scheme === 'http' && addressing.urlPort === 0) {
    addressing.urlPort = bound;
  }
  return { server, port: bound };
}
