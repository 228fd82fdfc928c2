import { stat } from 'node:fs/promises';
import { ToolError } from '../protocol/errors.ts';

/**
 * Which directory a host folder path names right now, as device:inode. A folder
 * deleted and re-created at the same path (`rm -rf repo && git clone … repo`) has
 * a new identity, while a running container still holds the old, deleted one.
 * Undefined when nothing is there.
 */
export async function folderIdentity(hostPath: string): Promise<string | undefined> {
  try {
    const info = await stat(hostPath, { bigint: true });
    return info.isDirectory() ? `${info.dev}:${info.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/** The error for a host folder that is no longer there. */
export function folderGone(hostPath: string): ToolError {
  return new ToolError(
    'SANDBOX_UNAVAILABLE',
    `the workspace folder ${hostPath} does not exist any more; create it again (or start sandboxd over another folder)`,
    { retryable: true, details: { workspace: hostPath } },
  );
}
