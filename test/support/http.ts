import http from 'node:http';

/** A whole reply to one request made with node:http. */
export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One request with node:http, which (unlike fetch) sends whatever Host header
 * a test gives it, the preview host names included; the reply read to its end.
 */
export function httpRequest(options: http.RequestOptions, body?: string | Buffer): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const request = http.request(options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * A GET of `target` (a preview URL) sent to the preview listener on 127.0.0.1
 * at the port the URL names, with the Host header a browser would send.
 */
export function previewGet(target: URL, cookie?: string): Promise<HttpReply> {
  return httpRequest({
    host: '127.0.0.1',
    port: target.port,
    path: `${target.pathname}${target.search}`,
    headers: { host: target.host, ...(cookie === undefined ? {} : { cookie }) },
    agent: false,
  });
}

/** Opens a preview link as a browser would: its capability becomes the session cookie returned. */
export async function openPreviewLink(link: URL): Promise<string> {
  const first = await previewGet(link);
  if (first.status !== 303) throw new Error(`the link answered ${first.status}: ${first.body.toString()}`);
  return String(first.headers['set-cookie']).split(';')[0] as string;
}
