import { z } from 'zod';
import { WireError } from './errors.ts';

/** JSON-RPC 2.0 as spoken between the control plane and the agent, one message per line. */
export const RequestId = z.number().int().nonnegative();

export const Request = z.object({
  jsonrpc: z.literal('2.0'),
  id: RequestId,
  method: z.string().min(1).max(128),
  params: z.unknown().optional(),
});
export type Request = z.infer<typeof Request>;

export const Notification = z.object({
  jsonrpc: z.literal('2.0'),
  method: z.string().min(1).max(128),
  params: z.unknown().optional(),
});
export type Notification = z.infer<typeof Notification>;

/** JSON-RPC error codes we use; `data` always carries the contract error. */
export const RpcErrorCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  toolError: -32000,
} as const;

export const RpcError = z.object({
  code: z.number().int(),
  message: z.string().max(16_384),
  data: WireError.optional(),
});

export const SuccessResponse = z.object({
  jsonrpc: z.literal('2.0'),
  id: RequestId,
  result: z.unknown(),
});

export const ErrorResponse = z.object({
  jsonrpc: z.literal('2.0'),
  id: RequestId.nullable(),
  error: RpcError,
});

export const Response = z.union([SuccessResponse, ErrorResponse]);
export type Response = z.infer<typeof Response>;

/** Anything that may arrive on the wire, told apart by shape. */
export const Message = z.union([Request, SuccessResponse, ErrorResponse, Notification]);
export type Message = z.infer<typeof Message>;

export function isRequest(message: Message): message is Request {
  return 'id' in message && 'method' in message;
}

export function isNotification(message: Message): message is Notification {
  return !('id' in message) && 'method' in message;
}
