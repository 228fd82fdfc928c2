import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, open, readFile } from 'node:fs/promises';
import path from 'node:path';

const KEY_BYTES = 32;
const KEY_FILE = 'agent-link.key';

/**
 * Per-sandbox tokens for dialling home over TCP. A token is HMAC-SHA256 of the
 * sandbox id under one key the control plane keeps, so nothing per sandbox is
 * stored, a restarted control plane (same key) still knows every worker's token,
 * and no sandbox can compute another's.
 */
export class AgentTokens {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < KEY_BYTES) throw new Error(`an agent key has at least ${KEY_BYTES} bytes`);
    this.#key = key;
  }

  tokenFor(sandboxId: string): string {
    return createHmac('sha256', this.#key).update(sandboxId).digest('hex');
  }

  /** Whether `presented` is the sandbox's token; constant time in the token's bytes. */
  matches(sandboxId: string, presented: string): boolean {
    const expected = Buffer.from(this.tokenFor(sandboxId), 'utf8');
    const given = Buffer.from(presented, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** The key in `stateDir` (0600), made at first use; on Kubernetes the state directory is a volume. */
  static async load(stateDir: string): Promise<AgentTokens> {
    const file = path.join(stateDir, KEY_FILE);
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(randomBytes(KEY_BYTES));
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    await chmod(file, 0o600);
    return new AgentTokens(await readFile(file));
  }
}
