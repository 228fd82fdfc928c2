import type { CallToolResult } from '@modelcontextprotocol/server';
import type { ToolReply } from '../protocol/agent-api.ts';
import type { ToolError } from '../protocol/errors.ts';

/**
 * The contract's result envelope: a short text for the model and the complete
 * result as structuredContent with `ok`. An image result (view_image) becomes
 * one image content block, and its bytes are not repeated in structuredContent.
 */
export function successEnvelope(reply: ToolReply): CallToolResult {
  const { image, ...rest } = reply.result as { image?: { data?: unknown; mime_type?: unknown } };
  const content: CallToolResult['content'] = [{ type: 'text', text: reply.summary }];
  const structured: Record<string, unknown> = { ok: true, ...rest };
  if (image !== undefined && typeof image.data === 'string' && typeof image.mime_type === 'string') {
    content.push({ type: 'image', data: image.data, mimeType: image.mime_type });
    structured.image = { mime_type: image.mime_type, in_content: true };
  }
  return { content, structuredContent: structured, isError: false };
}

export function errorEnvelope(error: ToolError): CallToolResult {
  const wire = error.toWire();
  const retry = wire.retryable ? 'a retry may help' : 'retrying will not help';
  return {
    content: [{ type: 'text', text: `Error ${wire.code} (${wire.category}; ${retry}): ${wire.message}` }],
    structuredContent: { ok: false, error: wire },
    isError: true,
  };
}
