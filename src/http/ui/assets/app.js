// The dashboard's only script, loaded as a module from /ui/static (the CSP allows
// nothing inline). Three jobs: refresh server-rendered fragments, stream a
// command's output from the SSE endpoint, and confirm a delete.

const REFRESH_MS = 2000;

for (const target of document.querySelectorAll('[data-refresh]')) {
  const url = target.dataset.refresh;
  setInterval(async () => {
    if (document.hidden) return;
    const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store' }).catch(
      () => undefined,
    );
    if (response === undefined) return;
    if (response.redirected || response.status === 401) {
      window.location.assign('/ui/login');
      return;
    }
    if (!response.ok) return;
    const markup = await response.text();
    if (target.innerHTML !== markup) target.innerHTML = markup;
  }, REFRESH_MS);
}

const panel = document.querySelector('[data-events]');
if (panel !== null) {
  const output = panel.querySelector('#output');
  const status = panel.querySelector('#output-status');
  const liveState = document.querySelector('#live-state');
  const events = new EventSource(panel.dataset.events);
  const show = (text) => {
    status.textContent = text;
  };
  events.addEventListener('ready', () => show('streaming'));
  events.addEventListener('output', (event) => {
    const chunk = JSON.parse(event.data);
    // Follow the end only when the reader is already there, so scrolling back stays put.
    const isAtEnd = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    const part = document.createElement('span');
    part.className = chunk.stream;
    part.textContent = chunk.data;
    output.append(part);
    if (isAtEnd) output.scrollTop = output.scrollHeight;
  });
  events.addEventListener('output-end', (event) => {
    show(`ended: ${JSON.parse(event.data).status}`);
    events.close();
  });
  events.addEventListener('lifecycle', (event) => {
    const state = JSON.parse(event.data).action;
    if (liveState !== null) {
      liveState.textContent = state;
      liveState.className = `state state-${state}`;
    }
  });
  events.addEventListener('error', () => {
    if (events.readyState === EventSource.CONNECTING) show('reconnecting…');
  });
}

for (const form of document.querySelectorAll('form[data-confirm]')) {
  form.addEventListener('submit', (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
