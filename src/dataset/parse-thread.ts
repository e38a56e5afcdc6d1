/**
 * The parse thread (see decode-threads.ts): runs the reader's tar parser over
 * the decode thread's pieces, hashing each member's data, and passes every
 * piece on to the main thread with what the parser found in it. When the
 * archive ends it tells the decode thread to stop decompressing.
 *
 * Worker module: see decode-thread.ts for why its imports end in `.ts`.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { FromParseThread, ToParseThread } from './decode-messages.ts';
import { TarParser, type TarEvent } from './tar-parser.ts';

const { fromDecoder } = workerData as { fromDecoder: MessagePort };
const port = parentPort!;
const parser = new TarParser();
let stopped = false;

function send(message: FromParseThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function forward(chunk: Uint8Array, events: readonly TarEvent[]): void {
  send({ type: 'piece', chunk, events }, [chunk.buffer as ArrayBuffer]);
  // After the end (or a refusal) nothing more is decoded; the rest of the file is only hashed.
  if (events.some((e) => e.type === 'end' || e.type === 'error')) {
    stopped = true;
    fromDecoder.postMessage({ type: 'tar-end' });
  }
}

fromDecoder.on('message', (m: ToParseThread) => {
  if (m.type === 'chunk') {
    if (!stopped) forward(m.chunk, parser.push(m.chunk));
  } else if (m.type === 'end') {
    if (!stopped) forward(new Uint8Array(0), parser.end());
    send(m);
  } else {
    send(m);
  }
});

port.on('message', (m: { type: 'stop' }) => {
  if (m.type === 'stop') {
    fromDecoder.close();
    port.close();
  }
});
