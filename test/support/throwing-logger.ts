import type { Logger } from '../../src/_internals/logger.js';

/** A logger whose sink has failed: every call throws, after noting its message in `tried`. */
export function throwingLogger(tried: string[] = []): Logger {
  const fail = (message: string): never => {
    tried.push(message);
    throw new Error('write EPIPE: the log destination is closed');
  };
  return { debug: fail, info: fail, warn: fail, error: fail };
}
