import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SANDBOX_HOME } from './container-spec.ts';

/**
 * /etc/passwd and /etc/group as a sandbox sees them. A workspace volume runs as a
 * uid of its own and a host folder as its owner's; without an entry for that uid,
 * `whoami`, Node's os.userInfo(), Python's getpass and git's default identity
 * fail. The control plane writes both files into the sandbox's socket directory
 * (root-owned, out of the sandbox's reach) and the driver mounts them read-only
 * over the image's.
 */
export function identityFiles(user: { uid: number; gid: number }): { passwd: string; group: string } {
  const passwd = [
    'root:x:0:0:root:/root:/bin/bash',
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  ];
  const group = ['root:x:0:', 'nogroup:x:65534:'];
  if (user.uid !== 0) passwd.push(`sandbox:x:${user.uid}:${user.gid}:sandbox:${SANDBOX_HOME}:/bin/bash`);
  if (user.gid !== 0 && user.gid !== 65_534) group.push(`sandbox:x:${user.gid}:`);
  return { passwd: `${passwd.join('\n')}\n`, group: `${group.join('\n')}\n` };
}

/** Writes them into `socketDir`; returns their host paths. */
export async function writeIdentityFiles(
  socketDir: string,
  user: { uid: number; gid: number },
): Promise<{ passwd: string; group: string }> {
  const files = identityFiles(user);
  const paths = { passwd: path.join(socketDir, 'passwd'), group: path.join(socketDir, 'group') };
  await writeFile(paths.passwd, files.passwd, { mode: 0o644 });
  await writeFile(paths.group, files.group, { mode: 0o644 });
  return paths;
}
