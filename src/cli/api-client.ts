import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { controlPlaneSocket, probeOwner } from '../sandbox/owner-socket.ts';
import { defaultStateDir } from '../sandbox/state-dir.ts';
import { CannotStart } from './usage.ts';

/** The flags every command that talks to a running serve takes. */
export function apiOptions() {
  return {
    url: { type: 'string' as const },
    'state-dir': { type: 'string' as const },
  };
}

/**
 * A running control plane's /v1, found the way `sandboxd ls` finds owners: the
 * serve that holds the state directory's socket says where it answers. The
 * token is SANDBOXD_TOKEN, or the one serve saved in that state directory.
 * --url (SANDBOXD_URL) names another control plane.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string;

  constructor(baseUrl: string, token: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token;
  }

  static async connect(
    flags: { url?: string | undefined; 'state-dir'?: string | undefined },
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<ApiClient> {
    const stateDir = path.resolve(flags['state-dir'] ?? defaultStateDir(env));
    let url = flags.url ?? env.SANDBOXD_URL;
    if (url === undefined) {
      const probe = await probeOwner(controlPlaneSocket(stateDir));
      if (probe.state !== 'alive' || probe.info?.url === undefined) {
        throw new CannotStart(
          `no sandboxd serve is running on the state directory ${stateDir}; start one, or name it with --url URL (SANDBOXD_URL)`,
        );
      }
      url = probe.info.url;
    }
    let token = env.SANDBOXD_TOKEN;
    if (token === undefined || token === '') {
      token = await readFile(path.join(stateDir, 'operator-token'), 'utf8')
        .then((text) => text.trim())
        .catch(() => {
          throw new CannotStart(`set SANDBOXD_TOKEN to the operator token (none readable in ${stateDir})`);
        });
    }
    return new ApiClient(url, token);
  }

  async fetch(pathname: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(`${this.baseUrl}${pathname}`, {
      ...init,
      headers: { authorization: `Bearer ${this.#token}`, ...init.headers },
    });
    if (!response.ok) {
      const body = (await response.json().catch(() => undefined)) as
        | { error?: { message?: string } }
        | undefined;
      throw new CannotStart(`${pathname}: ${response.status} ${body?.error?.message ?? response.statusText}`);
    }
    return response;
  }

  async json<T>(pathname: string): Promise<T> {
    return (await (await this.fetch(pathname)).json()) as T;
  }

  /** Server-Sent Events from `pathname`, one at a time, until the stream ends or `signal` aborts. */
  async *events(
    pathname: string,
    signal?: AbortSignal,
  ): AsyncGenerator<{ event: string; id: string | undefined; data: string }> {
    const response = await this.fetch(pathname, {
      headers: { accept: 'text/event-stream' },
      ...(signal === undefined ? {} : { signal }),
    });
    if (response.body === null) return;
    const decoder = new TextDecoder();
    let buffer = '';
    let event = 'message';
    let id: string | undefined;
    let data: string[] = [];
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
        if (line === '') {
          if (data.length > 0) yield { event, id, data: data.join('\n') };
          event = 'message';
          data = [];
        } else if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('id:')) id = line.slice(3).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
    }
  }
}
