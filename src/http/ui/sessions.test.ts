import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { SESSION_TTL_MS, Sessions } from './sessions.ts';

function app(sessions: Sessions) {
  const routes = new Hono();
  routes.post('/ui/login', (c) => c.json({ csrf: sessions.open(c).csrfToken }));
  routes.get('/ui/me', (c) => {
    const session = sessions.of(c);
    return session === undefined
      ? c.text('none', 401)
      : c.json({ isCsrfValid: sessions.isCsrfValid(session, c.req.query('csrf')) });
  });
  routes.post('/ui/logout', (c) => {
    sessions.close(c);
    return c.text('bye');
  });
  return routes;
}

test('a session cookie is HttpOnly, SameSite=Strict, scoped to /ui, and ends at sign-out or after its TTL', async () => {
  let now = 0;
  const routes = app(new Sessions(() => now));
  const login = await routes.request('http://localhost/ui/login', { method: 'POST' });
  const cookie = String(login.headers.get('set-cookie'));
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Path=\/ui/);
  const { csrf } = (await login.json()) as { csrf: string };
  const id = cookie.split(';')[0] as string;
  const me = (csrfToken: string) =>
    routes.request(`http://localhost/ui/me?csrf=${encodeURIComponent(csrfToken)}`, {
      headers: { cookie: id },
    });
  assert.deepEqual(await (await me(csrf)).json(), { isCsrfValid: true });
  assert.deepEqual(await (await me(`${csrf.slice(0, -1)}x`)).json(), { isCsrfValid: false });
  assert.equal(
    (await routes.request('http://localhost/ui/me', { headers: { cookie: 'sandboxd_session=forged' } }))
      .status,
    401,
  );
  now += SESSION_TTL_MS;
  assert.equal((await me(csrf)).status, 401, 'expired');

  now = 0;
  const again = await routes.request('http://localhost/ui/login', { method: 'POST' });
  const second = String(again.headers.get('set-cookie')).split(';')[0] as string;
  await routes.request('http://localhost/ui/logout', { method: 'POST', headers: { cookie: second } });
  assert.equal((await routes.request('http://localhost/ui/me', { headers: { cookie: second } })).status, 401);
});
