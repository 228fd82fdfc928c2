import { z } from 'zod';

/**
 * The limits the agent enforces inside the container, derived from the policy
 * and sent by the control plane after every hello.
 */
export const AgentLimits = z.object({
  /** Largest file read_file, view_image or write_file handles. */
  maxFileBytes: z
    .number()
    .int()
    .positive()
    .default(16 * 1024 * 1024),
  /** Output budget per stream of one command (head is 1/8 of it). */
  maxOutputBytesPerStream: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** Output kept across all retained commands of the workspace. */
  maxTotalOutputBytes: z
    .number()
    .int()
    .positive()
    .default(64 * 1024 * 1024),
  /** Commands running at once. */
  maxActiveCommands: z.number().int().positive().default(16),
  /** Finished commands kept for polling and read_output. */
  maxRetainedCommands: z.number().int().positive().default(64),
  /** How long a finished command stays readable. */
  commandRetentionMs: z
    .number()
    .int()
    .positive()
    .default(30 * 60 * 1000),
  /** Default and ceiling of exec_command's timeout_ms. */
  defaultCommandTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(10 * 60 * 1000),
  maxCommandTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(60 * 60 * 1000),
  /** Results list_files / search_text / list_dir return at most. */
  maxResults: z.number().int().positive().default(5000),
});
export type AgentLimits = z.infer<typeof AgentLimits>;

export const defaultAgentLimits: AgentLimits = AgentLimits.parse({});
