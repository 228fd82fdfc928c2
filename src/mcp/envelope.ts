import type { CallToolResult } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { ToolError, WireError } from '../protocol/errors.ts';
import type { ToolOutcome, ToolSpec } from '../protocol/tool-spec.ts';
import { ImageMimeType } from '../protocol/tools/files.ts';

/** structuredContent of every failed call. */
export const ErrorResult = z.object({ ok: z.literal(false), error: WireError });

/** What stays of an image result in structuredContent: its bytes travel as an image content block. */
const ImageInContent = z.object({ mime_type: ImageMimeType, in_content: z.literal(true) });

/** A tool's result as structuredContent carries it on success: `ok: true`, the image moved out. */
function okResult(result: z.ZodType): z.ZodType {
  if (result instanceof z.ZodObject) {
    const withImage = 'image' in result.shape ? result.extend({ image: ImageInContent }) : result;
    return withImage.extend({ ok: z.literal(true) });
  }
  if (result instanceof z.ZodUnion)
    return z.union(result.options.map((option) => okResult(option as z.ZodType)));
  throw new Error('a tool result must be an object or a union of objects');
}

/** Built once per tool: a result is checked on every call. */
const structuredResults = new WeakMap<ToolSpec, z.ZodType>();

/**
 * The whole of a tool's structuredContent, success or failure: the schema its
 * outputSchema is made from. A tool whose result is `never` only ever fails.
 */
export function structuredResult(spec: ToolSpec): z.ZodType {
  let schema = structuredResults.get(spec);
  if (schema === undefined) {
    schema = spec.output instanceof z.ZodNever ? ErrorResult : z.union([okResult(spec.output), ErrorResult]);
    structuredResults.set(spec, schema);
  }
  return schema;
}

/**
 * The outputSchema a tool advertises: JSON Schema 2020-12 of `structuredResult`,
 * with an object root that requires `ok` (a 2025-era client only accepts
 * `type: "object"` at the root, and reads `ok` first to pick the branch).
 */
export function outputJsonSchema(spec: ToolSpec): Record<string, unknown> {
  const { $schema, ...branches } = z.toJSONSchema(structuredResult(spec), {
    io: 'output',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return { $schema, type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], ...branches };
}

/**
 * The contract's result envelope: a short text for the model and the complete
 * result as structuredContent with `ok`. An image result (view_image) becomes
 * one image content block, and its bytes are not repeated in structuredContent.
 */
export function successEnvelope(reply: ToolOutcome<unknown>): CallToolResult {
  const content: CallToolResult['content'] = [{ type: 'text', text: reply.summary }];
  const structured: Record<string, unknown> = { ok: true, ...(isRecord(reply.result) ? reply.result : {}) };
  const image = ImageResult.safeParse(structured.image);
  if (image.success) {
    content.push({ type: 'image', data: image.data.data, mimeType: image.data.mime_type });
    structured.image = { mime_type: image.data.mime_type, in_content: true };
  }
  return { content, structuredContent: structured, isError: false };
}

/** An image as view_image returns it: its bytes leave structuredContent for an image content block. */
const ImageResult = z.object({ data: z.string(), mime_type: z.string() });

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The result as the tool's outputSchema promises it. An agent reply is
 * untrusted input, so it is checked here, at the edge: fields the schema does
 * not name are dropped, and a reply that breaks the schema never reaches a
 * client that trusts the outputSchema; it becomes AGENT_PROTOCOL_ERROR.
 */
export function conformingResult(spec: ToolSpec, result: CallToolResult): CallToolResult {
  const parsed = structuredResult(spec).safeParse(result.structuredContent);
  if (parsed.success) return { ...result, structuredContent: parsed.data as Record<string, unknown> };
  const issue = parsed.error.issues[0];
  throw new ToolError(
    'AGENT_PROTOCOL_ERROR',
    `the sandbox answered ${spec.name} with a result that breaks its schema` +
      (issue === undefined ? '' : ` (${issue.path.join('.')}: ${issue.message})`),
  );
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
