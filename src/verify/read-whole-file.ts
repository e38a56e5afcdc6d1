import { close, constants, fstat, open, readFile } from 'node:fs';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import { BackfillError } from '../errors.js';

const openFd = promisify(open);
const fstatFd = promisify(fstat);
const closeFd = promisify(close);
const readFd = promisify(readFile);

function aborted(): BackfillError {
  return new BackfillError('ABORTED', 'The operation was aborted.');
}

/**
 * Reads a whole small input (a sums file, a `.sha256` sidecar, a key or a
 * signature): a regular file, or a pipe (`<(curl …)`, a FIFO) as
 * `sha256sum --check` accepts. Nothing here waits in a thread that abort
 * cannot reach: the open does not block (`O_NONBLOCK`), and a pipe is read
 * through the event loop, so `signal` ends the wait for a writer or for
 * data at once (a thread blocked in the kernel would also keep the process
 * from exiting).
 *
 * @internal
 */
export async function readWholeFile(path: string, signal: AbortSignal | undefined): Promise<Buffer> {
  if (signal?.aborted) throw aborted();
  // A plain descriptor, not a FileHandle: a pipe's descriptor is handed to a socket, which closes it.
  const fd = await openFd(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  let isPipe = false;
  try {
    const stats = await fstatFd(fd);
    isPipe = stats.isFIFO();
    if (isPipe) return await readPipe(fd, signal);
    if (!stats.isFile())
      throw new BackfillError('IO_ERROR', `${path} is not a regular file or a pipe; pass the file itself.`, { context: { path } });
    return await readFd(fd);
  } finally {
    if (!isPipe) await closeFd(fd);
  }
}

function readPipe(fd: number, signal: AbortSignal | undefined): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = new Socket({ fd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    const onAbort = (): void => {
      socket.destroy();
      reject(aborted());
    };
    // The signal may have fired while the descriptor was being opened: it would not fire again.
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
    socket.once('end', () => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    });
  });
}
