import { type Stats, close, constants, fstat, open, read, stat } from 'node:fs';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import { BackfillError } from '../errors.js';
import { notRegular } from '../_internals/file-kind.js';
import { MAX_WHOLE_FILE_BYTES } from './defaults.js';

const openFd = promisify(open);
const fstatFd = promisify(fstat);
const closeFd = promisify(close);
const readFd = promisify(read);
const statPath = promisify(stat);

function aborted(): BackfillError {
  return new BackfillError('ABORTED', 'The operation was aborted.');
}

function tooLarge(path: string): BackfillError {
  return new BackfillError(
    'IO_ERROR',
    `${path} is larger than ${MAX_WHOLE_FILE_BYTES / 1024 / 1024} MiB; a sums file, sidecar, key or signature is read whole and must be smaller.`,
    { context: { path } },
  );
}

/**
 * Reads a whole small input (a sums file, a `.sha256` sidecar, a key or a
 * signature): a regular file, or a pipe (`<(curl …)`, a FIFO) as
 * `sha256sum --check` accepts. Nothing here waits in a thread that abort
 * cannot reach: the open does not block (`O_NONBLOCK`), and a pipe is read
 * through the event loop, so `signal` ends the wait for a writer or for
 * data at once (a thread blocked in the kernel would also keep the process
 * from exiting). Past {@link MAX_WHOLE_FILE_BYTES} the read stops with
 * `IO_ERROR`, so an endless pipe or a huge file cannot exhaust memory.
 * With `onlyRegular` (a file the caller did not name, found beside another)
 * anything but a regular file is `IO_ERROR`, ending with its `fix`: nobody
 * meant to feed a pipe found there, so nothing would. What is refused
 * (a device always, a pipe with `onlyRegular`) is refused on a `stat` of
 * the name, before it is opened, and again on the opened descriptor.
 *
 * @internal
 */
export async function readWholeFile(
  path: string,
  signal: AbortSignal | undefined,
  onlyRegular?: { readonly fix: string },
): Promise<Buffer> {
  if (signal?.aborted) throw aborted();
  // Refused before it is opened: opening a device may itself do something (a watchdog starts, a tape rewinds).
  refuseKind(await statPath(path), path, onlyRegular);
  // A plain descriptor, not a FileHandle: a pipe's descriptor is handed to a socket, which closes it.
  const fd = await openFd(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  let isPipe = false;
  try {
    // Again on what was opened: the name may lead elsewhere since the stat.
    const stats = await fstatFd(fd);
    refuseKind(stats, path, onlyRegular);
    isPipe = stats.isFIFO();
    if (isPipe) return await readPipe(fd, path, signal);
    return await readRegular(fd, path, stats.size);
  } finally {
    if (!isPipe) await closeFd(fd);
  }
}

/** Throws unless `stats` is a regular file, or a pipe when `onlyRegular` is not given. */
function refuseKind(stats: Stats, path: string, onlyRegular: { readonly fix: string } | undefined): void {
  if (onlyRegular !== undefined && !stats.isFile())
    throw new BackfillError('IO_ERROR', `${path} is ${notRegular(stats)}, not a regular file: ${onlyRegular.fix}`, { context: { path } });
  if (!stats.isFile() && !stats.isFIFO())
    throw new BackfillError('IO_ERROR', `${path} is not a regular file or a pipe; pass the file itself.`, { context: { path } });
}

/** Reads to the end (the file may have grown since `size` was taken), one byte past the limit at most. */
async function readRegular(fd: number, path: string, size: number): Promise<Buffer> {
  if (size > MAX_WHOLE_FILE_BYTES) throw tooLarge(path);
  let buffer = Buffer.allocUnsafe(size + 1);
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length > MAX_WHOLE_FILE_BYTES) throw tooLarge(path);
      buffer = Buffer.concat([buffer], Math.min(length * 2, MAX_WHOLE_FILE_BYTES + 1));
    }
    const { bytesRead } = await readFd(fd, buffer, length, buffer.length - length, null);
    if (bytesRead === 0) return buffer.subarray(0, length);
    length += bytesRead;
  }
}

function readPipe(fd: number, path: string, signal: AbortSignal | undefined): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = new Socket({ fd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = (error: BackfillError): void => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void => stop(aborted());
    // The signal may have fired while the descriptor was being opened: it would not fire again.
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > MAX_WHOLE_FILE_BYTES) return stop(tooLarge(path));
      chunks.push(chunk);
    });
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
