/**
 * Where previews are served: each one on an origin of its own,
 * `<port>-<sandbox>.<domain>`, never the control plane's. `localhost` by default,
 * as browsers resolve every `*.localhost` name to loopback without DNS.
 */
export interface PreviewAddressing {
  /** The preview domain: `localhost`, or a wildcard name a reverse proxy serves (`preview.example.com`). */
  domain: string;
  /** How a browser reaches the preview listener: `http` on localhost, `https` behind a proxy. */
  scheme: 'http' | 'https';
  /** The port in preview URLs; undefined when the scheme's own (behind a proxy). Set once the listener is bound. */
  urlPort: number | undefined;
}

/** `3000-sb-0123456789ab`: the port, a dash, the sandbox id (ids are [a-z0-9-], port has no leading 0). */
const LABEL = /^([1-9][0-9]{0,4})-([a-z0-9][a-z0-9-]{2,62})$/;

/** The port and sandbox a Host header names, or undefined for anything else. */
export function parsePreviewHost(
  hostHeader: string | undefined,
  domain: string,
): { port: number; sandboxId: string } | undefined {
  if (hostHeader === undefined) return undefined;
  const host = hostHeader.toLowerCase().replace(/:[0-9]{1,5}$/, '');
  const suffix = `.${domain.toLowerCase()}`;
  if (!host.endsWith(suffix)) return undefined;
  const match = LABEL.exec(host.slice(0, -suffix.length));
  if (match === null) return undefined;
  const port = Number(match[1]);
  if (port > 65_535) return undefined;
  return { port, sandboxId: match[2] as string };
}

/** The preview origin of one port of one sandbox. */
export function previewOrigin(addressing: PreviewAddressing, sandboxId: string, port: number): string {
  const portPart = addressing.urlPort === undefined ? '' : `:${addressing.urlPort}`;
  return `${addressing.scheme}://${port}-${sandboxId}.${addressing.domain}${portPart}`;
}

/** A domain as SANDBOXD_PREVIEW_DOMAIN may give it: host-name labels, no scheme, port or wildcard. */
export const PREVIEW_DOMAIN =
  /^(?=.{1,200}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
