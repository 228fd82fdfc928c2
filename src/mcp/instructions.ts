import { ReadFileTool } from '../protocol/tools/files.ts';
import { callAgentTool, type Sandbox } from '../sandbox/sandbox.ts';
import type { WorkspaceTarget } from './target.ts';

const BASE =
  'Every tool runs inside a hardened sandbox container: the workspace is /workspace, all paths are relative to it, ' +
  'there is no network (only the hosts the sandbox policy allows, through the proxy in HTTPS_PROXY; a refusal ' +
  'names the rule), and commands run as an unprivileged user. Long commands return a command_id: poll them ' +
  'with write_stdin (empty chars).';

const PROJECT_FILES = ['AGENTS.md', 'CLAUDE.md'];
const MAX_PROJECT_INSTRUCTION_BYTES = 16 * 1024;

/** read_file as the handshake uses it: an MCP client waits for this, so 5 s rather than read_file's 2 min. */
const InstructionsRead = { ...ReadFileTool, replyTimeoutMs: () => 5000 };

/**
 * The server's instructions: what sandboxd is, plus the workspace's AGENTS.md
 * or CLAUDE.md (bounded) when its sandbox is already running — reading them must
 * go through the agent, and an MCP handshake alone should not start a container.
 */
export async function instructionsFor(target: WorkspaceTarget): Promise<string> {
  const sandbox = target.currentSandbox();
  if (sandbox === undefined) return BASE;
  return cachedInstructions(sandbox);
}

/**
 * Starts reading a new sandbox's instructions now, so the client's handshake,
 * which follows a provisioning request within milliseconds, finds them read.
 */
export function prefetchInstructions(sandbox: Sandbox): void {
  void cachedInstructions(sandbox);
}

function cachedInstructions(sandbox: Sandbox): Promise<string> {
  const cached = cache.get(sandbox);
  if (cached !== undefined && Date.now() - cached.at < CACHE_MS) return cached.text;
  const text = readInstructions(sandbox);
  cache.set(sandbox, { text, at: Date.now() });
  return text;
}

/** Per sandbox (a read in flight is shared), so a stateless HTTP request does not read the files each time. */
const cache = new WeakMap<Sandbox, { text: Promise<string>; at: number }>();
const CACHE_MS = 30_000;

async function readInstructions(sandbox: Sandbox): Promise<string> {
  // Both at once: an MCP handshake waits for this, and a fresh workspace has neither.
  const contents = await Promise.all(
    PROJECT_FILES.map(async (file) => {
      try {
        const reply = await callAgentTool(sandbox, InstructionsRead, {
          path: file,
          max_bytes: MAX_PROJECT_INSTRUCTION_BYTES,
        });
        const content = reply.result.content;
        // The agent is asked for at most this much, but its reply is untrusted: cut it here too.
        return content.trim().length > 0 ? utf8Prefix(content, MAX_PROJECT_INSTRUCTION_BYTES) : undefined;
      } catch {
        return undefined; // Missing or unreadable: the next file, if any, speaks.
      }
    }),
  );
  const index = contents.findIndex((content) => content !== undefined);
  return index === -1
    ? BASE
    : `${BASE}\n\nProject instructions from ${PROJECT_FILES[index]}:\n${contents[index]}`;
}

/** The longest prefix of `text` that fits in `maxBytes` of UTF-8, never cutting a character. */
function utf8Prefix(text: string, maxBytes: number): string {
  const bytes = new Uint8Array(maxBytes);
  const { read } = new TextEncoder().encodeInto(text, bytes);
  return read === text.length ? text : text.slice(0, read);
}
