import { isSupportedVersion, PROTOCOL_VERSIONS } from '../mcp/protocol-versions.ts';
import { RPC_ERROR, requestIdOf, rpcErrorResponse } from './rpc-error.ts';

/**
 * The headers that mirror body fields (MCP 2026-07-28, Streamable HTTP §
 * Request Metadata, SEP-2243), as the specification spells them.
 */
const MIRROR_HEADERS = ['MCP-Protocol-Version', 'Mcp-Method', 'Mcp-Name'] as const;

/** RFC 9110 field-value characters the specification allows: visible ASCII, space and tab. */
const HEADER_SAFE = /^[\x20-\x7e\t]*$/;

const PROTOCOL_VERSION_META = 'io.modelcontextprotocol/protocolVersion';

/** The protocol version a body's `_meta` envelope claims, if it claims one. */
function claimedVersion(body: unknown): unknown {
  const meta = (body as { params?: { _meta?: Record<string, unknown> } } | undefined)?.params?._meta;
  return meta === null || typeof meta !== 'object' ? undefined : meta[PROTOCOL_VERSION_META];
}

/**
 * What the SDK's own validation misses of the mirror-header rules, answered as
 * the specification says. The SDK already refuses a missing header, a bad
 * Base64 sentinel and a header that disagrees with the body (-32020); this adds:
 *
 * - a mirror header sent twice, or with characters outside the header-safe set
 *   (§ Server Validation: "required headers are missing/malformed" is -32020,
 *   400). A repeated header reaches us joined with ", " and no method name,
 *   version or tool name of ours holds a comma, so a comma is a repeat.
 * - an MCP-Protocol-Version (or envelope claim) the server does not speak, in
 *   either era: § Protocol Version Header wants 400 with
 *   UnsupportedProtocolVersionError listing *every* supported version (the SDK
 *   lists only the 2026 ones, answers a legacy request with -32000, and one with
 *   an unknown later-sorting date with -32602). When header and claim disagree
 *   the SDK's -32020 comes first, as the section orders it.
 */
export function mirrorHeaderRejection(headers: Headers, body: unknown): Response | undefined {
  const id = requestIdOf(body);
  for (const name of MIRROR_HEADERS) {
    const value = headers.get(name);
    if (value === null) continue;
    const problem = value.includes(',')
      ? 'is sent more than once'
      : HEADER_SAFE.test(value)
        ? undefined
        : 'contains characters outside visible ASCII (encode a name as =?base64?…?=)';
    if (problem !== undefined) {
      return rpcErrorResponse(
        400,
        RPC_ERROR.headerMismatch,
        `Header mismatch: the ${name} header ${problem}`,
        {
          id,
          data: { header: name },
        },
      );
    }
  }
  const header = headers.get('mcp-protocol-version')?.trim();
  const claim = claimedVersion(body);
  const requested = header ?? (typeof claim === 'string' ? claim : undefined);
  const isConsistent = header === undefined || claim === undefined || claim === header;
  if (requested !== undefined && isConsistent && !isSupportedVersion(requested)) {
    return rpcErrorResponse(400, RPC_ERROR.unsupportedProtocolVersion, 'Unsupported protocol version', {
      id,
      data: { supported: [...PROTOCOL_VERSIONS], requested },
    });
  }
  return undefined;
}
