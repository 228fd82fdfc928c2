import type { HelperCapability } from '../runtime/driver.ts';

/**
 * The fixed scripts a snapshot helper container runs (runtime/driver.ts,
 * HelperSpec). Paths are the helper's own mounts; nothing the workload wrote is
 * ever interpolated into a script: names reach only cp, find and du as files.
 *
 * `cp -a` keeps what a workspace can hold: modes, owners, times, symbolic links
 * as links (never followed), hard links as links, FIFOs, empty directories, and
 * holes (coreutils 9 finds them with SEEK_DATA: a 10 GiB sparse file stays a few
 * KiB on disk). Exit 3: the source is larger than MAX_BYTES.
 */
export const SNAPSHOT_SCRIPT = `set -eu
used=$(du -s -B1 /src | cut -f1)
if [ "$used" -gt "$MAX_BYTES" ]; then echo "too-large $used"; exit 3; fi
cp -a /src/. /dst/
echo "result $(find /dst -mindepth 1 -printf x | wc -c) $(du -s -B1 /dst | cut -f1)"`;

/**
 * Restore in place: the workspace emptied, the snapshot copied in, and handed to
 * the sandbox's uid when the snapshot was taken from another one (OWNER=uid:gid).
 * The sandbox's container is stopped meanwhile: nothing races the removal.
 */
export const RESTORE_SCRIPT = `set -eu
find /dst -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +
cp -a /src/. /dst/
if [ -n "$OWNER" ]; then chown -hR "$OWNER" /dst; fi
echo "result $(find /dst -mindepth 1 -printf x | wc -c) $(du -s -B1 /dst | cut -f1)"`;

/**
 * A fork's layer: upper/ (its writes) and work/ (overlayfs's scratch) in each
 * layer volume given, upper/ with the snapshot root's owner and mode, since an
 * overlay's root directory is its upper directory's.
 */
export const LAYER_SCRIPT = `set -eu
for layer in "$@"; do
  mkdir "$layer/upper" "$layer/work"
  chmod --reference=/snap "$layer/upper"
  chown --reference=/snap "$layer/upper"
done`;

/**
 * What a copy needs, each for a reason: CHOWN to keep the sandbox uid's
 * ownership; DAC_OVERRIDE to read files and enter directories the workload made
 * unreadable (mode 000) and to fill directories it made read-only; FOWNER to set
 * modes and times on files root does not own; FSETID so a setgid directory keeps
 * its bit (root is not in the sandbox's group). Nothing else: no SYS_ADMIN, no
 * MKNOD (a workspace cannot hold device nodes: workers have no MKNOD either).
 */
export const COPY_CAPABILITIES: HelperCapability[] = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'];
/** A layer needs only its upper directory handed to the snapshot's owner. */
export const LAYER_CAPABILITIES: HelperCapability[] = ['CHOWN'];

/** A helper's limits: enough for cp over a large tree, bounded like any container. */
export const HELPER_LIMITS = { memoryBytes: 256 * 1024 ** 2, pidsLimit: 64, nanoCpus: 1e9 };
