/**
 * Worker-thread side of the scan pool: scans the tarballs the main thread
 * sends and posts back plain results, so hashing runs on several cores.
 *
 * @module
 * @internal
 */
import { parentPort, workerData } from 'node:worker_threads';
import { scanEpisode } from './episode-scan.js';
import type { ScanRequest, ScanResponse, ScanSettings } from './scan-pool.js';

const settings = workerData as ScanSettings;
const buffers: Buffer[] = [];
const aborter = new AbortController();

parentPort?.on('message', (message: ScanRequest | 'abort') => {
  if (message === 'abort') {
    aborter.abort();
    return;
  }
  const buffer = buffers.pop() ?? Buffer.allocUnsafe(settings.readChunkBytes);
  void scanEpisode(message.path, { ...settings, buffer, signal: aborter.signal }).then((result) => {
    buffers.push(buffer);
    const response: ScanResponse = result.match(
      ({ sha256, size, commit, problem }) => ({ id: message.id, ok: true, sha256, size, commit, problem: problem && { code: problem.code, message: problem.message } }),
      (error) => ({ id: message.id, ok: false, error: { code: error.code, message: error.message } }),
    );
    parentPort?.postMessage(response);
  });
});
