import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { AuditEntry } from '../../audit/entry.ts';
import { formatAge } from '../../policy/units.ts';
import type { Sandbox } from '../../sandbox/sandbox.ts';
import type { UsageNow } from './usage.ts';

/**
 * The dashboard's pages, rendered on the server with hono's `html` template
 * (every value escaped). Not JSX: Node runs our TypeScript by stripping types,
 * which has no JSX, and a template keeps the pages one plain function each.
 */
type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface SandboxRow {
  sandbox: Sandbox;
  usage: UsageNow | undefined;
  callsPerMinute: number;
}

const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(0)} MiB`;

function workspaceOf(sandbox: Sandbox): string {
  return sandbox.workspace.kind === 'volume' ? sandbox.workspace.name : sandbox.workspace.hostPath;
}

function ttlOf(sandbox: Sandbox, nowMs: number): string {
  if (sandbox.expiresAt === undefined) return '—';
  const left = sandbox.expiresAt.getTime() - nowMs;
  return left <= 0 ? 'due' : formatAge(left);
}

export function layout(title: string, csrfToken: string | undefined, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · sandboxd</title>
<link rel="stylesheet" href="/ui/static/app.css">
<link rel="icon" href="/ui/static/icon.svg" type="image/svg+xml">
<script type="module" src="/ui/static/app.js"></script>
</head>
<body>
<header class="top">
  <a class="brand" href="/ui">sandboxd</a>
  ${
    csrfToken === undefined
      ? ''
      : html`<form method="post" action="/ui/logout" class="signout">
    <input type="hidden" name="csrf" value="${csrfToken}">
    <button type="submit">Sign out</button>
  </form>`
  }
</header>
<main>${body}</main>
</body>
</html>`;
}

export function loginPage(message: string | undefined): Html {
  return layout(
    'Sign in',
    undefined,
    html`<section class="card narrow">
  <h1>Sign in</h1>
  <p>Paste the operator token once; this browser then keeps a session cookie for 12 hours.</p>
  ${message === undefined ? '' : html`<p class="error" role="alert">${message}</p>`}
  <form method="post" action="/ui/login">
    <label>Operator token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
    <button type="submit">Sign in</button>
  </form>
</section>`,
  );
}

export function sandboxRows(rows: SandboxRow[], nowMs: number): Html {
  if (rows.length === 0) return html`<tr><td colspan="9" class="empty">No sandboxes yet.</td></tr>`;
  return html`${rows.map(
    ({ sandbox, usage, callsPerMinute }) => html`<tr data-id="${sandbox.id}">
<td><a href="/ui/sandboxes/${sandbox.id}">${sandbox.id}</a></td>
<td><span class="state state-${sandbox.state}">${sandbox.state}</span></td>
<td>${sandbox.loaded.policy.name}</td>
<td class="clip" title="${workspaceOf(sandbox)}">${workspaceOf(sandbox)}</td>
<td class="num">${formatAge(nowMs - sandbox.createdAt.getTime())}</td>
<td class="num">${ttlOf(sandbox, nowMs)}</td>
<td class="num">${usage?.cpuPercent == null ? '—' : `${usage.cpuPercent.toFixed(1)}%`}</td>
<td class="num">${usage === undefined ? '—' : mib(usage.memoryBytes)}</td>
<td class="num">${callsPerMinute}</td>
</tr>`,
  )}`;
}

export function listPage(csrfToken: string, rows: SandboxRow[], nowMs: number): Html {
  return layout(
    'Sandboxes',
    csrfToken,
    html`<h1>Sandboxes</h1>
<table class="grid sandboxes">
<colgroup><col class="c-id"><col class="c-state"><col class="c-policy"><col class="c-ws"><col class="c-n"><col class="c-n"><col class="c-n"><col class="c-n"><col class="c-n"></colgroup>
<thead><tr><th>Sandbox</th><th>State</th><th>Policy</th><th>Workspace</th><th>Age</th><th>TTL</th><th>CPU</th><th>Memory</th><th>Calls/min</th></tr></thead>
<tbody id="sandbox-rows" data-refresh="/ui/fragments/sandboxes">${sandboxRows(rows, nowMs)}</tbody>
</table>`,
  );
}

export interface CommandView {
  commandId: string;
  cmd: string;
  startedAt: string;
  status: string;
  exitCode: number | null;
}

/** Commands the audit log saw start in this sandbox, newest first, with how each ended. */
export function commandsOf(entries: AuditEntry[]): CommandView[] {
  const commands = new Map<string, CommandView>();
  for (const entry of [...entries].sort((a, b) => a.id - b.id)) {
    const id = String(entry.detail.commandId ?? '');
    if (entry.action === 'started') {
      const cmd = entry.detail.cmd;
      commands.set(id, {
        commandId: id,
        cmd: Array.isArray(cmd) ? cmd.join(' ') : String(cmd),
        startedAt: entry.at,
        status: 'running',
        exitCode: null,
      });
    } else if (entry.action === 'exited') {
      const known = commands.get(id);
      if (known !== undefined) {
        known.status = String(entry.detail.status);
        known.exitCode = typeof entry.detail.exitCode === 'number' ? entry.detail.exitCode : null;
      }
    }
  }
  return [...commands.values()].reverse();
}

export function commandRows(sandboxId: string, commands: CommandView[], selected: string | undefined): Html {
  if (commands.length === 0) return html`<li class="empty">No commands yet.</li>`;
  return html`${commands.map(
    (command) => html`<li class="${command.commandId === selected ? 'selected' : ''}">
<a href="/ui/sandboxes/${sandboxId}?command=${command.commandId}"><code class="clip">${command.cmd}</code></a>
<span class="state state-${command.status}">${command.status}${command.exitCode === null ? '' : ` (${command.exitCode})`}</span>
</li>`,
  )}`;
}

export function toolCallRows(entries: AuditEntry[]): Html {
  if (entries.length === 0) return html`<tr><td colspan="5" class="empty">No tool calls yet.</td></tr>`;
  return html`${entries.map(
    (entry) => html`<tr>
<td class="num">${entry.at.slice(11, 19)}</td>
<td>${entry.action}</td>
<td><span class="state state-${entry.outcome}">${entry.errorCode ?? entry.outcome}</span></td>
<td class="num">${entry.durationMs === null ? '' : `${entry.durationMs.toFixed(1)} ms`}</td>
<td class="clip" title="${JSON.stringify(entry.detail)}"><code>${JSON.stringify(entry.detail)}</code></td>
</tr>`,
  )}`;
}

export interface FilesView {
  path: string;
  entries: { name: string; type: string; size?: number }[];
  file?: { path: string; text: string; isTruncated: boolean };
  unavailable?: string;
}

function filesPanel(sandboxId: string, files: FilesView): Html {
  if (files.unavailable !== undefined) return html`<p class="muted">${files.unavailable}</p>`;
  const base = files.path === '.' ? '' : `${files.path}/`;
  const parent = files.path === '.' ? undefined : files.path.split('/').slice(0, -1).join('/') || '.';
  return html`<p class="crumbs"><code>/workspace/${files.path === '.' ? '' : files.path}</code></p>
<ul class="files">
${parent === undefined ? '' : html`<li><a href="/ui/sandboxes/${sandboxId}?path=${encodeURIComponent(parent)}">..</a></li>`}
${files.entries.map((entry) =>
  entry.type === 'directory'
    ? html`<li><a href="/ui/sandboxes/${sandboxId}?path=${encodeURIComponent(base + entry.name)}">${entry.name}/</a></li>`
    : html`<li><a href="/ui/sandboxes/${sandboxId}?path=${encodeURIComponent(files.path)}&amp;file=${encodeURIComponent(base + entry.name)}">${entry.name}</a></li>`,
)}
</ul>
${
  files.file === undefined
    ? ''
    : html`<h3><code>${files.file.path}</code>${files.file.isTruncated ? ' (first part)' : ''}</h3><pre class="file">${files.file.text}</pre>`
}`;
}

export interface SandboxPageData {
  csrfToken: string;
  sandbox: Sandbox;
  nowMs: number;
  commands: CommandView[];
  selectedCommand: string | undefined;
  toolCalls: AuditEntry[];
  files: FilesView;
}

function actionForm(
  sandboxId: string,
  csrfToken: string,
  action: string,
  label: string,
  extra: Html | '' = '',
): Html {
  return html`<form method="post" action="/ui/sandboxes/${sandboxId}/${action}" class="action"${action === 'delete' ? html` data-confirm="Delete ${sandboxId} and its workspace?"` : ''}>
<input type="hidden" name="csrf" value="${csrfToken}">${extra}
<button type="submit" class="${action === 'delete' ? 'danger' : ''}" name="do" value="${action}">${label}</button>
</form>`;
}

export function sandboxPage(data: SandboxPageData): Html {
  const { sandbox, csrfToken, nowMs } = data;
  const allowList = sandbox.egress.allowList;
  const isRunning = sandbox.state === 'ready' || sandbox.state === 'idle';
  return layout(
    sandbox.id,
    csrfToken,
    html`<p class="crumbs"><a href="/ui">Sandboxes</a> /</p>
<h1>${sandbox.id} <span id="live-state" class="state state-${sandbox.state}">${sandbox.state}</span></h1>
<dl class="facts">
<dt>Policy</dt><dd>${sandbox.loaded.policy.name}</dd>
<dt>Workspace</dt><dd class="clip">${workspaceOf(sandbox)}</dd>
<dt>Age</dt><dd>${formatAge(nowMs - sandbox.createdAt.getTime())}</dd>
<dt>TTL</dt><dd>${ttlOf(sandbox, nowMs)}</dd>
<dt>Egress</dt><dd>${allowList === null ? 'none (no network)' : `${allowList.hosts.join(', ') || '—'} · ports ${allowList.ports.join(', ')}`}</dd>
</dl>
<div class="actions">
${isRunning ? actionForm(sandbox.id, csrfToken, 'stop', 'Stop') : actionForm(sandbox.id, csrfToken, 'start', 'Start')}
${actionForm(sandbox.id, csrfToken, 'ttl', 'Set TTL', html`<select name="ttlSeconds" aria-label="TTL"><option value="3600">1 hour</option><option value="14400">4 hours</option><option value="86400">1 day</option><option value="604800">7 days</option></select>`)}
${actionForm(sandbox.id, csrfToken, 'delete', 'Delete')}
</div>
<div class="columns">
<section class="card">
<h2>Commands</h2>
<ul class="commands" id="command-rows" data-refresh="/ui/sandboxes/${sandbox.id}/fragments/commands${data.selectedCommand === undefined ? '' : `?command=${data.selectedCommand}`}">${commandRows(sandbox.id, data.commands, data.selectedCommand)}</ul>
${
  data.selectedCommand === undefined
    ? html`<p class="muted">Choose a command to follow its output.</p>`
    : html`<div class="output" data-events="/ui/sandboxes/${sandbox.id}/events?command=${data.selectedCommand}">
<p class="output-head"><code>${data.selectedCommand}</code> <span class="output-status" id="output-status">connecting…</span></p>
<pre id="output" tabindex="0"></pre>
</div>`
}
</section>
<section class="card">
<h2>Files</h2>
${filesPanel(sandbox.id, data.files)}
</section>
</div>
<section class="card">
<h2>Recent tool calls</h2>
<table class="grid calls">
<colgroup><col class="c-time"><col class="c-tool"><col class="c-state"><col class="c-n"><col></colgroup>
<thead><tr><th>Time</th><th>Tool</th><th>Outcome</th><th>Duration</th><th>Arguments</th></tr></thead>
<tbody id="call-rows" data-refresh="/ui/sandboxes/${sandbox.id}/fragments/calls">${toolCallRows(data.toolCalls)}</tbody>
</table>
</section>`,
  );
}

export function messagePage(title: string, message: string): Html {
  return layout(
    title,
    undefined,
    html`<section class="card narrow"><h1>${title}</h1><p>${message}</p><p><a href="/ui">Back</a></p></section>`,
  );
}
