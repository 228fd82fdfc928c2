import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DockerDriver } from '../../src/runtime/docker/driver.ts';
import { Arena, tally } from './arena.ts';

/**
 * Secrets: nothing of the control plane (its token, its environment) and
 * nothing of another sandbox (its token) is visible inside a sandbox, and
 * environment inputs that change how programs load are refused.
 */

const canary = `canary-${randomBytes(12).toString('hex')}`;
let arena: Arena;
before(async () => {
  // A variable only the control plane's environment holds: it must never show up inside.
  arena = await Arena.open({ env: { SANDBOXD_ADV_CANARY: canary } });
});
after(() => arena?.close());

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('adversarial: secrets', () => {
  it("the control plane's token and environment and other sandboxes' tokens are not visible inside", () =>
    arena.case('secrets.no-leak', async () => {
      const needles = {
        'operator token': arena.plane.token,
        'control-plane env canary': canary,
        "B's token": arena.b.token,
        "A's own token": arena.a.token,
        "sha256 of A's token": sha256(arena.a.token),
        'sha256 of the operator token': sha256(arena.plane.token),
      };
      const patterns = Object.values(needles).join('\n');
      // Every place a process can look: every environ and cmdline, the command's own env,
      // the agent's environ, and every writable or configuration directory.
      // The needles come in on stdin, so they are not on this command's own command line.
      const script = `
cat > /tmp/.needles
hits=0
for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
  if tr '\\0' '\\n' < "$f" 2>/dev/null | grep -qFf /tmp/.needles; then echo "HIT $f"; hits=1; fi
done
if env | grep -qFf /tmp/.needles; then echo "HIT env"; fi
grep -rslFf /tmp/.needles --exclude=.needles /workspace /tmp /home /run /etc /opt /var /root /mnt /srv 2>/dev/null | sed 's/^/HIT /'
rm -f /tmp/.needles
echo "readable-environs: $(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | wc -l)"
echo "agent-env: $(tr '\\0' '\\n' < /proc/$(pgrep -xf 'node /opt/sandboxd/agent.mjs')/environ | cut -d= -f1 | sort | tr '\\n' ' ')"
echo "command-env: $(env | cut -d= -f1 | sort | tr '\\n' ' ')"
`;
      const out = await arena.sh(arena.a, script, { stdin: `${patterns}\n` });
      const hits = out.split('\n').filter((line) => line.startsWith('HIT'));
      assert.deepEqual(hits, [], 'no secret is visible inside A');
      const agentEnv = /agent-env: (.*)/.exec(out)?.[1]?.trim() ?? '';
      const commandEnv = /command-env: (.*)/.exec(out)?.[1]?.trim() ?? '';
      assert.doesNotMatch(commandEnv, /SANDBOXD_/, 'the agent keeps its variables to itself');
      assert.doesNotMatch(agentEnv, /TOKEN|CANARY/);
      // The engine's view of the container: no secret in its environment or command either.
      const driver = new DockerDriver();
      const [container] = await driver.list({ 'io.sandboxd.id': arena.a.id });
      assert.ok(container, "A's container");
      const info = await driver.docker.getContainer(container.id).inspect();
      const engineView = JSON.stringify({
        env: info.Config.Env,
        cmd: info.Config.Cmd,
        entry: info.Config.Entrypoint,
      });
      for (const [label, value] of Object.entries(needles))
        assert.ok(!engineView.includes(value), `${label} in the container config`);
      return {
        attempted: `grep every /proc/*/environ and cmdline, the command's env, and /workspace /tmp /home /run /etc /opt /var /root of A for the operator token, a canary variable of the control plane's environment, A's and B's sandbox tokens and their SHA-256; inspect A's container config`,
        result: `no hit; ${/readable-environs: (\d+)/.exec(out)?.[1]} environment lines readable; the agent's environment holds ${agentEnv}; a command's holds ${commandEnv}; container Env ${JSON.stringify(info.Config.Env)}`,
      };
    }));

  it('env inputs that change how programs load are refused', () =>
    arena.case('secrets.env-injection', async () => {
      const names = [
        'LD_PRELOAD',
        'ld_preload',
        'LD_LIBRARY_PATH',
        'LD_AUDIT',
        'NODE_OPTIONS',
        'NODE_PATH',
        'BASH_ENV',
        'ENV',
        'SHELLOPTS',
        'PROMPT_COMMAND',
        'PS4',
        'PYTHONSTARTUP',
        'PYTHONPATH',
        'PERL5OPT',
        'RUBYOPT',
        'JAVA_TOOL_OPTIONS',
        'GCONV_PATH',
        'GLIBC_TUNABLES',
        'GIT_CONFIG_PARAMETERS',
        'GIT_CONFIG_GLOBAL',
        'MALLOC_CHECK_',
        'BASH_FUNC_ls%%',
        'IFS',
        'A=B',
        'X\u0000Y',
        '',
      ];
      const codes: string[] = [];
      for (const [index, name] of names.entries()) {
        for (const tty of [false, true]) {
          const marker = `/tmp/env-ran-${index}-${tty}`;
          const result = await arena.call(arena.a, 'exec_command', {
            cmd: `touch ${marker}`,
            env: { [name]: '/tmp/evil.so' },
            tty,
          });
          assert.equal(result.ok, false, `${name} must be refused (tty ${tty})`);
          assert.equal(result.error?.code, 'INVALID_ARGUMENT', `${name}: ${JSON.stringify(result.error)}`);
          codes.push(`${result.error?.code}/${result.error?.category}`);
        }
      }
      const ran = (await arena.sh(arena.a, 'ls /tmp | grep -c "^env-ran-" || true')).trim();
      assert.equal(ran, '0', 'no refused command ran');
      const allowed = await arena.exec(arena.a, 'echo "$GREETING"', { env: { GREETING: 'hello' } });
      assert.equal(allowed.stdout, 'hello\n');
      return {
        attempted: `exec_command (pipes and tty) with env ${names.map((name) => JSON.stringify(name)).join(', ')}`,
        result: `all refused before anything ran (${tally(codes)}); an ordinary variable (GREETING) still works`,
      };
    }));
});
