import { ToolError } from '#protocol/errors';

/**
 * Variables that change how a program or its loader starts rather than what it
 * works on. A container already bounds what such a trick can reach; refusing them
 * keeps the contract agents were written for.
 */
const REFUSED_EXACT = new Set([
  'NODE_OPTIONS',
  'NODE_PATH',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PROMPT_COMMAND',
  'PS4',
  'PYTHONSTARTUP',
  'PYTHONPATH',
  'PYTHONHOME',
  'PYTHONINSPECT',
  'PERL5OPT',
  'PERL5LIB',
  'PERLLIB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'GCONV_PATH',
  'GLIBC_TUNABLES',
  'HOSTALIASES',
  'IFS',
]);
const REFUSED_PREFIXES = ['LD_', 'DYLD_', 'BASH_FUNC_', 'GIT_CONFIG', 'MALLOC_'];

export function isRefusedEnvName(name: string): boolean {
  const upper = name.toUpperCase();
  return REFUSED_EXACT.has(upper) || REFUSED_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

const SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

let egressProxyUrl: string | undefined;

/** The agent's egress proxy URL while it listens (the policy allows egress), else undefined. */
export function setEgressProxy(url: string | undefined): void {
  egressProxyUrl = url;
}

/**
 * What sends a command's HTTP(S) through the egress proxy: the variables curl,
 * git (libcurl), pip (requests), Go and most tools read, in both cases; Node 24's
 * fetch and http only with NODE_USE_ENV_PROXY; npm's and pip's own settings too,
 * so a proxy left in a project's .npmrc or pip.conf does not win. Loopback stays direct.
 */
export function proxyEnv(url: string): Record<string, string> {
  const direct = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    ALL_PROXY: url,
    NO_PROXY: direct,
    http_proxy: url,
    https_proxy: url,
    all_proxy: url,
    no_proxy: direct,
    NODE_USE_ENV_PROXY: '1',
    npm_config_proxy: url,
    npm_config_https_proxy: url,
    npm_config_noproxy: direct,
    PIP_PROXY: url,
  };
}

/**
 * The environment of a command, built from scratch: the agent's own variables
 * (socket path, sandbox id) never reach the workload.
 */
export function commandEnv(
  extra: Record<string, string> | undefined,
  options: { home: string; isTty: boolean },
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: SEARCH_PATH,
    HOME: options.home,
    USER: 'sandbox',
    LOGNAME: 'sandbox',
    SHELL: '/bin/bash',
    LANG: 'C.UTF-8',
    TMPDIR: '/tmp',
    TERM: options.isTty ? 'xterm-256color' : 'dumb',
    PAGER: 'cat',
    GIT_PAGER: 'cat',
    ...(egressProxyUrl === undefined ? {} : proxyEnv(egressProxyUrl)),
  };
  for (const [name, value] of Object.entries(extra ?? {})) {
    if (isRefusedEnvName(name)) {
      throw new ToolError(
        'INVALID_ARGUMENT',
        `environment variable ${name} is not allowed: it changes how programs load`,
        {
          category: 'security',
          details: { name },
        },
      );
    }
    if (value.includes('\0')) {
      throw new ToolError('INVALID_ARGUMENT', `environment variable ${name} contains a NUL byte`, {
        details: { name },
      });
    }
    env[name] = value;
  }
  return env;
}
