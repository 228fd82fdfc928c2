import pino, { type Logger } from 'pino';

/**
 * pino JSON on stderr (stdout belongs to the command's output or to MCP).
 * Anything that looks like a credential is redacted wherever it appears.
 */
export function createLogger(level: string = process.env.SANDBOXD_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name: 'sandboxd',
      level,
      redact: {
        paths: [
          'token',
          '*.token',
          'authorization',
          '*.authorization',
          'headers.authorization',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
