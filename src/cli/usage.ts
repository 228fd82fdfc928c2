/** A command line that cannot be run; the CLI prints the message and usage and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A command that cannot start for a reason the person can fix; the CLI prints the message and exits 2. */
export class CannotStart extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CannotStart';
  }
}

export const USAGE = `Usage: sandboxd <command> [options]

Commands:
  run --workspace DIR [--policy NAME] [--timeout 10m] [--env NAME[=VALUE]]...
      [--in-place [--git-write]] [--artifacts PATH]... [--artifacts-dir DIR]
      [--artifacts-max-bytes 1GiB] [--artifacts-max-files 100000] [--raw-output] -- CMD [ARGS...]
      Run one command in a fresh hardened sandbox, stream its output, exit with
      its exit code (124 on timeout, 125 if the sandbox failed), and remove
      everything afterwards. It works on a copy of DIR in a fresh volume, so the
      command cannot change the host tree (--copy says so explicitly); --in-place
      works on DIR itself, with DIR/.git read-only unless --git-write. --artifacts
      copies PATH (relative to the workspace) out at the end, through the agent,
      within the byte and file caps. The host gives up 15 s after the timeout
      (the policy's default without --timeout) whatever the sandbox says. CI runner
      commands (lines starting with ::, ##[) and terminal escape sequences in the
      output are defused, colours kept; --raw-output passes the bytes unchanged.
  serve [--host 127.0.0.1] [--port 8080] [--workspace DIR [--git-write]] [--policy NAME]
        [--no-auth] [--state-dir DIR] [--max-sandboxes N] [--allowed-hosts a,b]
        [--allowed-origins a,b] [--runtime-driver docker|kubernetes] [--namespace NS]
        [--agent-listen HOST:PORT [--agent-address HOST:PORT] [--agent-network NET]]
      The control plane: Streamable HTTP MCP at /mcp (default workspace) and
      /w/NAME/mcp (named workspaces), the /v1 provisioning API, /healthz, /readyz,
      /metrics. Needs a bearer token (SANDBOXD_TOKEN, or one generated at first start).
      One serve per state directory; a second one refuses to start. With
      --workspace, DIR/.git is read-only in the sandbox unless --git-write.
      With --agent-listen, agents dial that TCP port with a per-sandbox token
      instead of a socket directory (Docker: on --agent-network; Kubernetes:
      required, see README "On Kubernetes").
  stdio --workspace DIR [--policy NAME] [--eager] [--git-write] [--preview-port N|off]
      Serve MCP on stdin/stdout for a local client; every tool runs in a hardened
      container over DIR, started on first use (--eager: at once) and removed when
      the client goes away. The folder is kept; DIR/.git is read-only in the
      sandbox unless --git-write. preview_url links open servers in the sandbox
      in a browser, through a listener on loopback (--preview-port; by default
      any free port, named in the links; off: none).
  ls [--json] [--state-dir DIR]...
      Every sandboxd container on this engine, whichever state directory it
      belongs to: sandbox, workspace, policy, state, age, lifetime, owner (alive,
      gone or unknown), state directory, and whether prune would remove it, and why.
  rm [--state-dir DIR]... ID...
      Remove sandboxes by sandbox id (sb-…, ws-NAME, stdio-…), container name or
      container id prefix: the container, its socket directory, and its volume
      when it owns one (a named workspace's volume is kept). Exit 1 if an ID
      matches nothing, or more than one sandbox.
  audit [--sandbox ID] [--tool NAME] [--kind KIND] [--since TIME] [--limit 100] [--follow] [--json]
      The audit log of the running serve (found through --state-dir, or --url and
      SANDBOXD_TOKEN): tool calls, state changes, commands, egress, operator
      actions, newest last; --follow keeps printing new rows.
  logs ID [--command CID] [--follow] [--lines 200]
      A sandbox's agent log lines and its events; with --command, that command's
      output as it is written. --follow keeps streaming.
  top [--interval 2] [--once]
      Every sandbox's state, age, TTL, CPU, memory and calls per minute,
      redrawn in place.
  prune [--dry-run] [--volumes] [--state-dir DIR]...
      Remove the sandboxes whose control plane is gone: their state directory no
      longer exists, or they go with a process (stdio, run, serve --workspace)
      that died. Volumes they own go with them; named workspace volumes only with
      --volumes. --dry-run lists what would go and why; --state-dir limits it to
      those state directories. Exit 1 when something could not be removed.
  image build [--tag TAG]
      Build the worker image (bundles the agent first if dist/agent.mjs is missing).
  version
      Print the version.

Environment:
  SANDBOXD_STATE_DIR   where socket directories live (default /var/lib/sandboxd as root)
  SANDBOXD_POLICY_DIR  where policies are read from (default: the package's policies/)
  SANDBOXD_LOG_LEVEL   pino level for the JSON log on stderr (default info; warn for run)
`;
