import { PolicyError } from '../policy/load.ts';
import { packageVersion } from '../policy/package-files.ts';
import { auditCommand } from './audit.ts';
import { imageCommand } from './image.ts';
import { createLogger } from './logger.ts';
import { logsCommand } from './logs.ts';
import { lsCommand } from './ls.ts';
import { pruneCommand } from './prune.ts';
import { rmCommand } from './rm.ts';
import { runCommand } from './run.ts';
import { serveCommand } from './serve.ts';
import { stdioCommand } from './stdio.ts';
import { topCommand } from './top.ts';
import { CannotStart, USAGE, UsageError } from './usage.ts';

async function main(argv: string[]): Promise<number> {
  const [verb, ...args] = argv;
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (verb) {
    case 'run':
      return runCommand(args, createLogger(process.env.SANDBOXD_LOG_LEVEL ?? 'warn'));
    case 'serve':
      return serveCommand(args, createLogger());
    case 'stdio':
      return stdioCommand(args, createLogger());
    case 'image':
      return imageCommand(args);
    case 'ls':
      return lsCommand(args);
    case 'audit':
      return auditCommand(args);
    case 'logs':
      return logsCommand(args);
    case 'top':
      return topCommand(args);
    case 'rm':
      return rmCommand(args);
    case 'prune':
      return pruneCommand(args);
    case 'version':
    case '--version':
      process.stdout.write(`sandboxd ${packageVersion()}\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      throw new UsageError(verb === undefined ? 'no command given' : `unknown command ${verb}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Exit once output is flushed even if a pooled engine connection lingers.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (error: unknown) => {
    if (
      error instanceof UsageError ||
      (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      process.stderr.write(`sandboxd: ${error.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (error instanceof CannotStart) {
      process.stderr.write(`sandboxd: ${error.message}\n`);
      process.exitCode = 2;
    } else if (error instanceof PolicyError) {
      process.stderr.write(`sandboxd: bad policy: ${error.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`sandboxd: ${(error as Error).stack ?? error}\n`);
      process.exitCode = 1;
    }
  },
);
