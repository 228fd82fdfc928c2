import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';

export const SESSION_COOKIE = 'sandboxd_session';
/** A session ends this long after sign-in, whatever happens. */
export const SESSION_TTL_MS = 12 * 3600 * 1000;
/** Sessions one control plane keeps; signing in past it ends the oldest. */
const MAX_SESSIONS = 256;

export interface Session {
  id: string;
  csrfToken: string;
  expiresAtMs: number;
}

function equalText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Dashboard sessions, in memory: a restart signs everyone out. The cookie holds
 * only a random id (HttpOnly, SameSite=Strict, Path=/ui, Secure over HTTPS); the
 * operator token itself is checked once at sign-in and never stored. Each
 * session has its own CSRF token, which every form that changes anything carries.
 */
export class Sessions {
  readonly #sessions = new Map<string, Session>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  open(c: Context): Session {
    if (this.#sessions.size >= MAX_SESSIONS) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest !== undefined) this.#sessions.delete(oldest);
    }
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      csrfToken: randomBytes(32).toString('base64url'),
      expiresAtMs: this.#now() + SESSION_TTL_MS,
    };
    this.#sessions.set(session.id, session);
    setCookie(c, SESSION_COOKIE, session.id, {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/ui',
      secure: new URL(c.req.url).protocol === 'https:',
      maxAge: Math.floor(SESSION_TTL_MS / 1000),
    });
    return session;
  }

  /** The request's session, if its cookie names a live one. */
  of(c: Context): Session | undefined {
    const id = getCookie(c, SESSION_COOKIE);
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAtMs <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return session;
  }

  /** Whether `presented` is the session's CSRF token (compared in constant time). */
  isCsrfValid(session: Session, presented: unknown): boolean {
    return typeof presented === 'string' && equalText(presented, session.csrfToken);
  }

  close(c: Context): void {
    const session = this.of(c);
    if (session !== undefined) this.#sessions.delete(session.id);
    deleteCookie(c, SESSION_COOKIE, { path: '/ui' });
  }
}
