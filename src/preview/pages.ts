/** The preview listener's own pages: what a person in a browser sees when no server answers. */
export type PageKind =
  | 'not-found'
  | 'unauthorized'
  | 'capability-used'
  | 'cross-site'
  | 'not-listening'
  | 'no-upgrade'
  | 'limit'
  | 'failed'
  | 'not-saved';

interface PageFacts {
  port?: number;
  sandboxId?: string;
}

const TITLES: Record<PageKind, string> = {
  'not-found': 'No such preview',
  unauthorized: 'This preview needs a link',
  'capability-used': 'This preview link was used or has expired',
  'cross-site': 'Refused: asked for by another site',
  'not-listening': 'Nothing is listening on this port yet',
  'no-upgrade': 'The server did not accept the WebSocket',
  limit: 'Too many connections to this sandbox',
  failed: 'The sandbox could not be reached',
  'not-saved': 'This preview could not be opened',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

function body(kind: PageKind, { port, sandboxId }: PageFacts): string {
  const where =
    port === undefined || sandboxId === undefined ? '' : ` (port ${port} in sandbox ${sandboxId})`;
  switch (kind) {
    case 'not-found':
      return '<p>This address names no preview this server has. Check the link, or ask for a new one.</p>';
    case 'unauthorized':
      return `<p>Open the preview with the link sandboxd gave${where}: <code>POST /v1/sandboxes/${sandboxId}/previews</code>, or the <code>preview_url</code> tool. A link opens once, in one browser; it may have expired or been revoked.</p>`;
    case 'capability-used':
      return '<p>Each preview link opens once, in one browser, and expires. Ask for a new one (<code>preview_url</code>, or <code>POST /v1/sandboxes/:id/previews</code>).</p>';
    case 'cross-site':
      return `<p>A page of another origin asked for this preview${where} with your session. Open the preview itself instead.</p>`;
    case 'no-upgrade':
      return `<p>The server${where} answered the WebSocket handshake without switching protocols.</p>`;
    case 'not-listening':
      return (
        `<p>Nothing accepts connections on port ${port} in sandbox ${sandboxId}. Start a server there, listening on the sandbox's loopback, for example:</p>` +
        `<pre>python3 -m http.server ${port} --bind 127.0.0.1\nnpx vite --port ${port} --strictPort</pre>` +
        '<p>Then reload this page.</p>'
      );
    case 'limit':
      return `<p>The sandbox has as many preview connections open as its policy allows${where}. Close some tabs or WebSockets and reload.</p>`;
    case 'failed':
      return `<p>The sandbox's agent did not bring the connection${where}. The sandbox may be stopping or restarting; reload in a moment.</p>`;
    case 'not-saved':
      return "<p>The control plane could not save this browser's session in its state directory (its log says why), and withdrew the link. Ask for a new one once that is fixed.</p>";
  }
}

/** A small self-contained HTML page (no script, no external resource). */
export function pageFor(kind: PageKind, facts: PageFacts): string {
  const title = TITLES[kind];
  const safe = {
    ...(facts.port === undefined ? {} : { port: facts.port }),
    ...(facts.sandboxId === undefined ? {} : { sandboxId: escapeHtml(facts.sandboxId) }),
  };
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} · sandboxd</title>` +
    '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}' +
    'code,pre{background:#f3f3f3;padding:.1rem .3rem;border-radius:4px}pre{padding:.6rem}</style></head>' +
    `<body><h1>${title}</h1>${body(kind, safe)}<p><small>sandboxd preview</small></p></body></html>`
  );
}
