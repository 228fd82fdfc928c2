import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { isGvisor } from '../support/runtime.ts';
import { Arena, codeOf, type ExecResult, type Structured, tally } from './arena.ts';

/**
 * Filesystem escapes: writing where the image and the host are, the agent
 * socket, device nodes, the neighbour's workspace, and symlink and hard-link
 * tricks aimed at every tool that takes a path.
 */

let arena: Arena;
before(async () => {
  arena = await Arena.open();
});
after(() => arena?.close());

/** Python helpers that print `<label> <OK|ERRNO>` for each attempt. */
const ATTEMPT = `
import errno, os, sys
def attempt(label, fn):
    try:
        fn()
        print(label, 'OK')
    except OSError as e:
        print(label, errno.errorcode.get(e.errno, str(e)))
def create(p):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
    os.unlink(p)
def rewrite(p):
    # Writes back the value already there: harmless even if it succeeded.
    value = open(p, 'rb').read()
    fd = os.open(p, os.O_WRONLY)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)
def open_for_write(p):
    os.close(os.open(p, os.O_WRONLY))
`;

interface TarEntry {
  name: string;
  type?: 'file' | 'symlink' | 'link' | 'character-device' | 'fifo' | 'directory';
  linkname?: string;
  data?: string;
  mode?: number;
  devmajor?: number;
  devminor?: number;
}

/** A tar archive of the given entries, built in memory. */
async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { data, ...header } of entries) {
    pack.entry({ type: 'file', mode: 0o644, ...header }, data ?? '');
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The entries of a tar archive with their contents. */
async function untar(
  archive: Buffer,
): Promise<{ name: string; type: string; linkname: string; data: string }[]> {
  const extract = tar.extract();
  const entries: { name: string; type: string; linkname: string; data: string }[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      entries.push({
        name: entry.header.name,
        type: entry.header.type ?? 'file',
        linkname: entry.header.linkname ?? '',
        data: Buffer.concat(chunks).toString('utf8'),
      });
    }
  })();
  extract.end(archive);
  await done;
  return entries;
}

/** The content of this container's /etc/passwd, to recognise a read that escaped. */
let passwd = '';

describe('adversarial: filesystem', () => {
  before(async () => {
    passwd = await arena.sh(arena.a, 'cat /etc/passwd');
    assert.match(passwd, /^root:x:0:0:/);
  });

  it('cannot write to the image, the socket directory, /proc/sys, /sys or /dev', () =>
    arena.case('fs.read-only-places', async () => {
      const code = `${ATTEMPT}
for d in ['/', '/usr', '/usr/bin', '/etc', '/opt/sandboxd', '/run/sandboxd', '/var', '/root', '/dev', '/sys', '/proc']:
    attempt('create ' + d, lambda d=d: create(os.path.join(d, 'adv-probe')))
attempt('append /etc/passwd', lambda: open('/etc/passwd', 'a').write('x'))
attempt('replace agent.mjs', lambda: open('/opt/sandboxd/agent.mjs', 'r+b').write(b'//'))
for p in ['/proc/sys/vm/overcommit_memory', '/proc/sys/kernel/hostname', '/proc/sys/net/ipv4/ip_forward',
          '/sys/class/net/lo/mtu', '/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes',
          '/sys/fs/cgroup/pids.max', '/sys/fs/cgroup/memory.max']:
    if os.path.exists(p):
        attempt('rewrite ' + p, lambda p=p: rewrite(p))
attempt('open /proc/sysrq-trigger for writing', lambda: open_for_write('/proc/sysrq-trigger'))
attempt('open /proc/kcore', lambda: open('/proc/kcore', 'rb').read(1))
attempt('mkdir /run/sandboxd/x', lambda: os.mkdir('/run/sandboxd/x'))
`;
      const out = (await arena.sh(arena.a, 'python3 -', { stdin: code })).trim();
      const lines = out.split('\n');
      const succeeded = lines.filter((line) => line.endsWith(' OK'));
      assert.deepEqual(succeeded, [], 'every write attempt fails');
      // gVisor has no cgroup files and no /sys/class/net/lo/mtu to rewrite.
      assert.ok(lines.length >= (isGvisor ? 19 : 20), out);
      return {
        attempted: `${lines.length} writes: create a file in / /usr /usr/bin /etc /opt/sandboxd /run/sandboxd /var /root /dev /sys /proc; append /etc/passwd; overwrite agent.mjs; rewrite /proc/sys and /sys and cgroup limit files with their own value; open /proc/sysrq-trigger for writing; read /proc/kcore`,
        result: `all refused: ${tally(lines.map((line) => line.split(' ').pop() as string))} (${lines
          .slice(-10)
          .join('; ')})`,
      };
    }));

  it('cannot remove, replace or shadow the agent socket', () =>
    arena.case('fs.agent-socket', async () => {
      const attempts = [
        'rm -f /run/sandboxd/control.sock',
        'mv /run/sandboxd/control.sock /tmp/stolen.sock',
        'ln -sf /tmp/evil /run/sandboxd/control.sock',
        'chmod 000 /run/sandboxd/control.sock',
        'chmod 777 /run/sandboxd',
        'touch /run/sandboxd/control.sock.new',
        'python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\'/run/sandboxd/evil.sock\')"',
        "python3 -c \"import os; os.rename('/run/sandboxd/control.sock', '/run/sandboxd/x')\"",
      ];
      const outcomes: string[] = [];
      for (const attempt of attempts) {
        const result = await arena.exec(arena.a, attempt);
        assert.notEqual(result.exit_code, 0, `${attempt} must fail`);
        outcomes.push(
          (result.stderr.match(/Read-only file system|Permission denied|Operation not permitted/) ?? [
            result.stderr.trim().split('\n').pop(),
          ])[0] as string,
        );
      }
      const listing = await arena.sh(
        arena.a,
        'stat -c "%U %a %F" /run/sandboxd /run/sandboxd/control.sock; ls -A /run/sandboxd',
      );
      // The socket, and the sandbox's passwd and group, which the control plane wrote.
      assert.match(listing, /^root 755 directory\nroot 666 socket\ncontrol\.sock\ngroup\npasswd\n$/);
      // The link still carries tool calls.
      assert.equal((await arena.sh(arena.a, 'echo still-linked')).trim(), 'still-linked');
      return {
        attempted:
          'rm, mv, ln -sf over, chmod, chmod the directory, touch, bind a new socket in, rename() the agent socket',
        result: `all failed (${tally(outcomes)}); /run/sandboxd is root 0755 with only control.sock; A still answers`,
      };
    }));

  it('cannot create device nodes or find block devices', () =>
    arena.case('fs.device-nodes', async () => {
      const code = `${ATTEMPT}
import stat
for d in ['/tmp', '/workspace', '/home/sandbox', '/dev/shm']:
    attempt('mknod c 1:3 in ' + d, lambda d=d: os.mknod(os.path.join(d, 'adv-null'), stat.S_IFCHR | 0o666, os.makedev(1, 3)))
    attempt('mknod b 8:0 in ' + d, lambda d=d: os.mknod(os.path.join(d, 'adv-disk'), stat.S_IFBLK | 0o666, os.makedev(8, 0)))
`;
      const out = (await arena.sh(arena.a, 'python3 -', { stdin: code })).trim();
      const lines = out.split('\n');
      let mknod: ExecResult;
      if (isGvisor) {
        // gVisor lets a process without CAP_MKNOD make nodes on its tmpfs mounts (never on the
        // workspace); a node opens only a device gVisor emulates, and /dev/mem or a disk none.
        for (const line of lines)
          assert.match(line, line.includes('/workspace') ? / EPERM$/ : / (EPERM|OK)$/, line);
        mknod = await arena.exec(
          arena.a,
          'rm -f /tmp/adv-* /home/sandbox/adv-* /dev/shm/adv-*; mknod /tmp/adv-mem c 1 1 && mknod /tmp/adv-disk b 8 0; ' +
            'head -c1 /tmp/adv-mem; head -c1 /tmp/adv-disk; rm -f /tmp/adv-*',
        );
        assert.match(
          mknod.stderr,
          /adv-mem' for reading: No such device or address\n.*adv-disk' for reading: No such device or address/,
        );
      } else {
        for (const line of lines) assert.match(line, / EPERM$/, line);
        mknod = await arena.exec(arena.a, 'mknod /tmp/adv-mem c 1 1');
        assert.notEqual(mknod.exit_code, 0);
      }
      const devices = await arena.sh(
        arena.a,
        'find /dev -type b 2>/dev/null | wc -l; ls /dev | tr "\\n" " "; echo; test -e /dev/mem && echo has-mem || echo no-mem',
      );
      const [blockCount, list, mem] = devices.trim().split('\n');
      assert.equal(blockCount, '0', 'no block device is visible');
      assert.equal(mem, 'no-mem');
      return {
        attempted:
          'mknod of a char (1:3) and a block (8:0) device in /tmp, /workspace, $HOME, /dev/shm; mknod(1) of /dev/mem; look for block devices',
        result: `${tally(lines.map((line) => line.split(' ').pop() as string))}; mknod(1): ${mknod.stderr.trim()}; block devices: ${blockCount}; /dev holds: ${list?.trim()}`,
      };
    }));

  it("cannot find or read the neighbour's workspace", () =>
    arena.case('fs.neighbour-workspace', async () => {
      const secret = arena.neighbourContent.trim();
      const volumeB = `sandboxd-ws-${arena.b.id}`;
      const hostPath = `/var/lib/docker/volumes/${volumeB}/_data/${arena.neighbourFile}`;
      const script = `
found=$(find / \\( -path /proc -o -path /sys \\) -prune -o -name precious.txt -print 2>/dev/null | head -5)
echo "by-name:[$found]"
hits=$(grep -rsl --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -F ${secret} /workspace /tmp /home /run /var /opt /mnt /srv /media /root /etc 2>/dev/null | head -5)
echo "by-content:[$hits]"
echo "mounted-B:[$(grep -c ${volumeB} /proc/self/mountinfo)]"
echo "workspace-root:[$(awk '$5=="/workspace"{print $4}' /proc/self/mountinfo)]"
for p in ${hostPath} /proc/1/root${hostPath} /proc/self/root${hostPath} /proc/1/cwd/../../..${hostPath}; do
  if cat "$p" >/dev/null 2>&1; then echo "read:$p"; else echo "refused:$(cat "$p" 2>&1 | sed 's/.*: //')"; fi
done
echo "docker-dir:[$(ls -d /var/lib/docker /proc/1/root/var/lib/docker 2>&1 | sed 's/.*: //' | sort -u | tr '\\n' ' ')]"
echo "pids:[$(ls -d /proc/[0-9]* | wc -l)]"
echo "processes:[$(ps -eo comm= | sort -u | tr '\\n' ' ')]"
`;
      const out = await arena.sh(arena.a, script);
      const field = (name: string) => new RegExp(`${name}:\\[([^\\]]*)\\]`).exec(out)?.[1]?.trim() ?? '?';
      assert.equal(field('by-name'), '', 'no file of B is visible by name');
      assert.equal(field('by-content'), '', "no file holds B's content");
      assert.equal(field('mounted-B'), '0', "B's volume is not mounted in A");
      // gVisor's mountinfo names no mount's source; the other checks stand.
      if (!isGvisor) {
        assert.match(field('workspace-root'), new RegExp(arena.a.id), "A's /workspace is A's own volume");
      }
      assert.doesNotMatch(out, /^read:/m, "B's file cannot be read by its host path");
      assert.doesNotMatch(
        field('processes'),
        /dockerd|containerd|runc|systemd|sshd/,
        'no host process is visible',
      );
      // The same through the tools.
      const tools: Structured[] = [
        await arena.call(arena.a, 'read_file', { path: `../../..${hostPath}` }),
        await arena.call(arena.a, 'read_file', { path: hostPath }),
        await arena.call(arena.a, 'list_dir', { path: `../var/lib/docker/volumes/${volumeB}` }),
      ];
      await arena.sh(arena.a, `ln -sfn /proc/1/root/var/lib/docker/volumes/${volumeB}/_data /workspace/to-b`);
      tools.push(await arena.call(arena.a, 'read_file', { path: `to-b/${arena.neighbourFile}` }));
      tools.push(await arena.call(arena.a, 'list_files', { path: 'to-b' }));
      const codes = tools.map(codeOf);
      for (const code of codes) assert.ok(code !== 'ok', codes.join());
      await arena.sh(arena.a, 'rm -f /workspace/to-b');
      return {
        attempted: `find B's file by name and by content across A's filesystems; look for B's volume in mountinfo; cat it by host path directly and via /proc/1/root, /proc/self/root, /proc/1/cwd/../..; read_file/list_dir with ../ and absolute host paths; a symlink into /proc/1/root/var/lib/docker`,
        result: `nothing found or readable (${out
          .trim()
          .split('\n')
          .filter((line) => !line.startsWith('workspace-root'))
          .map((line) => line.replace(/\/var\/lib\/docker\/volumes\/[^ ]*/g, '…'))
          .join('; ')}); tools: ${tally(codes)}`,
      };
    }));

  it('symlinks aimed out of /workspace are refused by every path-taking tool', () =>
    arena.case('fs.symlink-escapes', async () => {
      await arena.sh(
        arena.a,
        `set -e
cd /workspace && rm -rf links && mkdir links && cd links
ln -s /etc/passwd passwd; ln -s / root; ln -s /etc etc; ln -s ../../etc/passwd rel-passwd
ln -s /proc/self/root/etc/passwd procroot; ln -s /tmp/adv-created dangling; ln -s loop loop
ln -s /run/sandboxd/control.sock sock; ln -s /tmp/outside.png img; ln -s /tmp tmpdir
python3 -c "import base64,sys; open('/tmp/outside.png','wb').write(base64.b64decode('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='))"
cd /workspace && echo inside > notes.txt
git init -q . 2>/dev/null; git -c user.name=a -c user.email=a@a add -A; git -c user.name=a -c user.email=a@a commit -qm init`,
      );
      const escapes = ['passwd', 'root/etc/passwd', 'etc/passwd', 'rel-passwd', 'procroot', 'loop', 'sock'];
      const calls: [string, Record<string, unknown>][] = [];
      for (const name of escapes) calls.push(['read_file', { path: `links/${name}` }]);
      calls.push(['read_file', { path: 'links/passwd', encoding: 'base64' }]);
      for (const name of ['passwd', 'dangling', 'root/tmp/adv-created2', 'tmpdir/adv-created3', 'etc/adv'])
        calls.push(['write_file', { path: `links/${name}`, content: 'pwned\n', create_dirs: true }]);
      for (const name of ['root', 'etc', 'tmpdir', 'root/tmp'])
        calls.push(['list_dir', { path: `links/${name}` }]);
      calls.push(['list_dir', { path: 'links/root', recursive: true }]);
      for (const name of ['root', 'etc', 'tmpdir']) calls.push(['list_files', { path: `links/${name}` }]);
      for (const name of ['root', 'etc', 'passwd'])
        calls.push(['search_text', { path: `links/${name}`, query: 'root' }]);
      for (const name of ['img', 'root/tmp/outside.png', 'tmpdir/outside.png'])
        calls.push(['view_image', { path: `links/${name}` }]);
      const patch = (body: string) => `*** Begin Patch\n${body}\n*** End Patch`;
      calls.push(['apply_patch', { patch: patch('*** Add File: links/dangling\n+pwned') }]);
      calls.push(['apply_patch', { patch: patch('*** Add File: links/root/tmp/adv-patch\n+pwned') }]);
      calls.push(['apply_patch', { patch: patch('*** Add File: links/tmpdir/adv-patch2\n+pwned') }]);
      calls.push([
        'apply_patch',
        { patch: patch('*** Update File: links/passwd\n@@\n-root:x:0:0:root:/root:/bin/bash\n+pwned') },
      ]);
      calls.push(['apply_patch', { patch: patch('*** Delete File: links/etc/hostname') }]);
      calls.push([
        'apply_patch',
        { patch: patch('*** Update File: notes.txt\n*** Move to: links/tmpdir/moved.txt\n-inside\n+moved') },
      ]);
      calls.push(['git_status', { path: 'links/root' }]);
      calls.push(['git_diff', { path: 'links/root/etc' }]);
      calls.push(['git_diff', { paths: ['links/etc/passwd'] }]);
      calls.push(['git_log', { path: 'links/etc' }]);
      calls.push(['git_show', { rev: 'HEAD', path: 'links/root/etc/passwd' }]);
      calls.push(['git_blame', { path: 'links/passwd' }]);
      calls.push(['git_blame', { path: 'links/root/etc/passwd' }]);
      calls.push(['exec_command', { cmd: 'pwd', workdir: 'links/root' }]);
      calls.push(['exec_command', { cmd: 'pwd', cwd: 'links/tmpdir' }]);

      const codes: string[] = [];
      const leaks: string[] = [];
      for (const [tool, args] of calls) {
        const result = await arena.call(arena.a, tool, args);
        const code = codeOf(result);
        codes.push(`${tool}:${code}`);
        const text = JSON.stringify(result);
        if (text.includes('root:x:0:0') || text.includes('cm9vdDp4OjA6MD'))
          leaks.push(`${tool} ${JSON.stringify(args)}`);
        assert.ok(
          code === 'SYMLINK_ESCAPE' || code === 'PATH_OUTSIDE_WORKSPACE',
          `${tool} ${JSON.stringify(args)} → ${text.slice(0, 300)}`,
        );
      }
      assert.deepEqual(leaks, []);
      // Listing the directory that holds the links, recursively, must not descend through them.
      const listed = await arena.call(arena.a, 'list_dir', { path: 'links', recursive: true, max_depth: 4 });
      const files = await arena.call(arena.a, 'list_files', { path: '.', include_hidden: true });
      const search = await arena.call(arena.a, 'search_text', { query: 'root:x:0:0', path: '.' });
      const listedPaths = (listed.entries as { path: string }[]).map((entry) => entry.path);
      assert.ok(
        listedPaths.every((p) => p.startsWith('links/') && p.split('/').length === 2),
        listedPaths.join(),
      );
      assert.ok(
        (files.files as string[]).every((p) => !p.startsWith('links/root/') && !p.startsWith('links/etc/')),
      );
      assert.equal((search.matches as unknown[]).length, 0, 'search_text does not follow symlinks out');
      const left = await arena.sh(
        arena.a,
        'ls /tmp/adv-created /tmp/adv-created2 /tmp/adv-created3 /tmp/adv-patch /tmp/adv-patch2 /tmp/moved.txt /etc/adv 2>/dev/null | wc -l; cat /workspace/notes.txt; md5sum < /etc/passwd',
      );
      const [count, notes] = left.trim().split('\n');
      assert.equal(count, '0', 'nothing was created outside /workspace');
      assert.equal(notes, 'inside', 'the refused move left notes.txt alone');
      return {
        attempted: `${calls.length} calls through links to /etc/passwd, /, /etc, /tmp, ../../etc/passwd, /proc/self/root, a dangling link to /tmp, a loop and the agent socket: read_file, write_file, list_dir, list_files, search_text, view_image, apply_patch (add, update, delete, move), git_status/diff/log/show/blame, exec_command workdir/cwd; then list_dir/list_files/search_text over the links`,
        result: `all refused (${tally(codes.map((c) => c.split(':')[1] as string))}); recursive listings stayed in links/ (${listedPaths.length} entries), search_text for root:x:0:0 found 0; nothing created in /tmp or /etc; notes.txt untouched`,
      };
    }));

  it('hard links cannot bring outside files into /workspace', () =>
    arena.case('fs.hard-links', async () => {
      const out = await arena.sh(
        arena.a,
        `cd /workspace
touch /home/sandbox/adv-home /tmp/adv-tmp
for src in /etc/passwd /usr/sbin/docker-init /opt/sandboxd/agent.mjs /run/sandboxd/control.sock /home/sandbox/adv-home /tmp/adv-tmp; do
  echo "$src: $(ln "$src" hl-probe 2>&1 | sed 's/.*: //' || true)"; rm -f hl-probe
done
rm -f /home/sandbox/adv-home /tmp/adv-tmp
echo inside > hl-source && ln hl-source hl-inside && echo "inside-link: ok"`,
      );
      const lines = out.trim().split('\n');
      for (const line of lines.slice(0, -1))
        assert.match(line, /Invalid cross-device link|Operation not permitted|hard link not allowed/, line);
      // A hard link within the workspace is an ordinary file of the workspace, nothing more.
      const read = await arena.call(arena.a, 'read_file', { path: 'hl-inside' });
      assert.equal(read.content, 'inside\n');
      const write = await arena.call(arena.a, 'write_file', { path: 'hl-inside', content: 'replaced\n' });
      assert.equal(write.ok, true);
      const after = await arena.sh(arena.a, 'cat /workspace/hl-source /workspace/hl-inside');
      return {
        attempted:
          'ln (hard) /etc/passwd, /usr/sbin/docker-init (same ext4 device as /workspace), agent.mjs, the agent socket, a $HOME file and /tmp into /workspace; then read_file/write_file through a hard link made inside /workspace',
        result: `${lines.slice(0, -1).join('; ')}; inside link: read_file ok, write_file replaced the path atomically (source now ${JSON.stringify(after.split('\n')[0])}, link ${JSON.stringify(after.split('\n')[1])})`,
      };
    }));

  it('archive download and upload stay inside /workspace', () =>
    arena.case('fs.archive', async () => {
      await arena.sh(
        arena.a,
        `set -e; cd /workspace && rm -rf arc && mkdir -p arc/sub && echo inside > arc/sub/file.txt
ln -s /etc/passwd arc/passwd; ln -s / arc/root; ln -s ../../.. arc/up; ln arc/sub/file.txt arc/hard`,
      );
      const url = (query: string) => `/v1/sandboxes/${arena.a.id}/archive${query}`;
      // Download: links travel as links, never as what they point at.
      const download = await arena.plane.fetch(url('?path=arc'));
      assert.equal(download.status, 200);
      const entries = await untar(Buffer.from(await download.arrayBuffer()));
      const listing = entries.map(
        (entry) => `${entry.name}:${entry.type}${entry.linkname ? `->${entry.linkname}` : ''}`,
      );
      assert.ok(
        entries.every((entry) => !entry.data.includes('root:x:0:0')),
        'no outside content in the tar',
      );
      assert.ok(
        listing.some((line) => line.includes('passwd:symlink->/etc/passwd')),
        listing.join(),
      );
      const refusals: string[] = [];
      for (const query of [
        '?path=arc/root',
        '?path=arc/root/etc',
        '?path=arc/passwd',
        '?path=arc/up',
        '?path=../..',
        '?path=/etc',
        '?path=%2e%2e',
        '?path=arc/../../etc',
      ]) {
        const response = await arena.plane.fetch(url(query));
        const body = await response.text();
        assert.ok(
          response.status >= 400 && response.status < 500,
          `${query}: ${response.status} ${body.slice(0, 200)}`,
        );
        assert.ok(!body.includes('root:x:0:0'));
        refusals.push(`${query} ${response.status} ${(/"code":"([A-Z_]+)"/.exec(body) ?? [])[1]}`);
      }
      // Upload: archives that try to write outside, through links, or special files.
      const attacks: [string, TarEntry[]][] = [
        ['../ entry', [{ name: '../escape.txt', data: 'x' }]],
        ['absolute entry', [{ name: '/tmp/abs.txt', data: 'x' }]],
        [
          'symlink to /tmp then a file through it',
          [
            { name: 'evil', type: 'symlink', linkname: '/tmp' },
            { name: 'evil/pwned', data: 'x' },
          ],
        ],
        [
          'relative symlink out then a file through it',
          [
            { name: 'up2', type: 'symlink', linkname: '../../../tmp' },
            { name: 'up2/pwned2', data: 'x' },
          ],
        ],
        ['hard link to /etc/passwd', [{ name: 'hard2', type: 'link', linkname: '/etc/passwd' }]],
        ['hard link via ../', [{ name: 'hard3', type: 'link', linkname: '../../etc/passwd' }]],
        ['character device', [{ name: 'null2', type: 'character-device', devmajor: 1, devminor: 3 }]],
        ['fifo', [{ name: 'fifo2', type: 'fifo' }]],
        ['target path ../', [{ name: 'fine.txt', data: 'x' }]],
      ];
      const uploads: string[] = [];
      for (const [label, tarEntries] of attacks) {
        const query = label === 'target path ../' ? '?path=../tmp' : '?path=arc';
        const response = await arena.plane.fetch(url(query), {
          method: 'PUT',
          body: await tarOf(tarEntries),
          headers: { 'content-type': 'application/x-tar' },
        });
        const body = await response.text();
        assert.ok(
          response.status >= 400 && response.status < 500,
          `${label}: ${response.status} ${body.slice(0, 200)}`,
        );
        uploads.push(`${label} ${response.status} ${(/"code":"([A-Z_]+)"/.exec(body) ?? [])[1]}`);
      }
      const setuid = await arena.plane.fetch(url('?path=arc'), {
        method: 'PUT',
        body: await tarOf([{ name: 'suid', data: '#!/bin/sh\nid\n', mode: 0o6755 }]),
        headers: { 'content-type': 'application/x-tar' },
      });
      const left = await arena.sh(
        arena.a,
        'ls -d /escape.txt /workspace/../escape.txt /tmp/abs.txt /tmp/pwned /tmp/pwned2 /tmp/fine.txt 2>/dev/null | wc -l; stat -c %a /workspace/arc/suid 2>/dev/null || echo absent; ls /workspace/arc | tr "\\n" " "',
      );
      const [outside, suidMode, arcListing] = left.trim().split('\n');
      assert.equal(outside, '0', 'nothing was written outside /workspace');
      assert.ok(
        suidMode === 'absent' || (Number.parseInt(suidMode ?? '0', 8) & 0o6000) === 0,
        `setuid bits kept: ${suidMode}`,
      );
      return {
        attempted:
          'GET /v1/sandboxes/A/archive of a tree with symlinks to /etc/passwd, / and ../../.. and a hard link; GET with ?path through those links and with ../, /etc, %2e%2e; PUT tars with ../ and absolute entries, a symlink out followed by a file through it, hard links to /etc/passwd, a char device, a fifo, a ../ target path, a setuid file',
        result: `download: ${entries.length} entries, links kept as links (${listing.filter((line) => line.includes('->')).join(', ')}); ${refusals.length} GETs refused (${tally(refusals.map((r) => r.split(' ').slice(1).join(' ')))}); ${uploads.length} PUTs refused (${tally(uploads.map((u) => u.split(' ').slice(-2).join(' ')))}); setuid upload ${setuid.status}, mode now ${suidMode}; nothing written outside /workspace; arc/ holds ${arcListing?.trim()}`,
      };
    }));

  it('a symlink swapped under read_file stays inside the container', () =>
    arena.case('fs.symlink-race', async () => {
      // A loop in A swaps race/dir between a real directory (holding a decoy etc/passwd)
      // and a symlink to /, while read_file asks for race/dir/etc/passwd.
      const swapper = `
import os, time
os.makedirs('/workspace/race/dir/etc', exist_ok=True)
open('/workspace/race/dir/etc/passwd', 'w').write('decoy\\n')
os.chdir('/workspace/race')
end = time.time() + 6
n = 0
while time.time() < end:
    os.rename('dir', 'hold'); os.symlink('/', 'dir')
    os.unlink('dir'); os.rename('hold', 'dir')
    n += 1
print('swaps', n)
`;
      const started = await arena.exec(arena.a, 'python3 -', { stdin: swapper, yield_time_ms: 200 });
      assert.equal(started.status, 'running', started.stderr);
      const outcomes: string[] = [];
      const deadline = Date.now() + 4500;
      while (Date.now() < deadline) {
        const batch = await Promise.all(
          Array.from({ length: 8 }, () => arena.call(arena.a, 'read_file', { path: 'race/dir/etc/passwd' })),
        );
        for (const result of batch) {
          if (result.ok === true)
            outcomes.push(
              result.content === 'decoy\n' ? 'decoy' : result.content === passwd ? 'ESCAPED' : 'other',
            );
          else outcomes.push(codeOf(result));
        }
      }
      const done = await arena.call(arena.a, 'write_stdin', {
        command_id: started.command_id,
        chars: '',
        yield_time_ms: 10_000,
      });
      await arena.sh(arena.a, 'rm -rf /workspace/race');
      assert.ok(!outcomes.includes('other'), 'every read is the decoy or a typed error');
      // Before the fix about 5% of these reads returned the container's /etc/passwd: the
      // path checks and the open were two steps. The agent now checks where the open landed.
      assert.equal(outcomes.filter((outcome) => outcome === 'ESCAPED').length, 0, tally(outcomes));
      return {
        attempted: `${outcomes.length} read_file race/dir/etc/passwd while A swaps race/dir between a directory and a symlink to / (${String(done.stdout ?? '').trim()})`,
        result: `${tally(outcomes)}; no read left /workspace (the agent checks /proc/self/fd of what it opened)`,
      };
    }));
});
