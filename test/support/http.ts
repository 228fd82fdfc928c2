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
