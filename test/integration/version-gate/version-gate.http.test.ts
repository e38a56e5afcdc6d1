import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptedCommit, shipWithCommit, VersionGate, type GateRejectionBody } from '../../../src/version-gate/index.js';
import { createRepo, recordingLogger, REMEDIATION, removeScratchDirs, scratchDir, type GitRepo } from './git-fixture.js';

let repo: GitRepo;
let commits: string[];
beforeAll(() => {
  repo = createRepo(130);
  commits = repo.commits();
});
afterAll(removeScratchDirs);

interface Running {
  readonly url: string;
  readonly port: number;
  handled: number;
  close(): Promise<void>;
}

/** A real node:http server on 127.0.0.1 whose upload handler sits behind the gate. */
async function serve(gate: VersionGate): Promise<Running> {
  const gated = gate.middleware();
  const state = { handled: 0 };
  const upload = (req: IncomingMessage, res: ServerResponse): void => {
    state.handled += 1;
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ commit: acceptedCommit(req)?.commit ?? null, bytes }));
    });
  };
  const server = createServer((req, res) => gated(req, res, () => upload(req, res)));
  return listen(server, state);
}

async function listen(server: Server, state: { handled: number }): Promise<Running> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get handled() {
      return state.handled;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Sends raw bytes, so a test can send what fetch refuses to (duplicate or broken headers). */
function rawRequest(port: number, text: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('error', reject);
    socket.end(text);
  });
}

const put = (url: string, commit?: string): Promise<Response> =>
  fetch(`${url}/episodes/e1`, { method: 'PUT', body: 'payload', headers: commit === undefined ? {} : { 'x-code-commit': commit } });

describe('end to end through a real node:http server', () => {
  let gate: VersionGate;
  let server: Running;
  beforeAll(async () => {
    gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION });
    server = await serve(gate); // no ready(): the first request waits for the first load
  });
  afterAll(async () => {
    await server.close();
    await gate.close();
  });

  it('lets the current head through on the very first request and hands the handler the commit', async () => {
    const res = await put(server.url, commits[0]!.toUpperCase());
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ commit: commits[0], bytes: 7 });
  });

  it('refuses the 101st commit with 412 and a JSON body carrying the remediation', async () => {
    const before = server.handled;
    const res = await put(server.url, commits[100]);
    expect(res.status).toBe(412);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as GateRejectionBody;
    expect(body).toMatchObject({
      code: 'COMMIT_NOT_RECENT',
      your_commit: commits[100],
      head_commit: commits[0],
      remediation: REMEDIATION.join('\n'),
    });
    expect(server.handled).toBe(before);
    expect((await put(server.url, commits[99])).status).toBe(201);
  });

  it('answers 400 for missing, abbreviated and non-hex headers', async () => {
    const missing = await put(server.url);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as GateRejectionBody).code).toBe('COMMIT_MISSING');
    for (const bad of [commits[0]!.slice(0, 12), commits[0]!.slice(0, 39), `${commits[0]!.slice(0, 39)}z`]) {
      const res = await put(server.url, bad);
      expect(res.status).toBe(400);
      expect(((await res.json()) as GateRejectionBody).code).toBe('COMMIT_MALFORMED');
    }
  });

  it('answers 400 when the header is sent twice', async () => {
    const before = server.handled;
    const res = await rawRequest(
      server.port,
      `PUT /episodes/e1 HTTP/1.1\r\nHost: x\r\nX-Code-Commit: ${commits[0]}\r\nX-Code-Commit: ${commits[1]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(400);
    // node:http joins the two into one value; the body says what happened, not "hex digits only".
    expect(JSON.parse(res.body)).toMatchObject({
      code: 'COMMIT_MALFORMED',
      message: 'The x-code-commit header was sent 2 times; send it exactly once.',
    });
    expect(server.handled).toBe(before);
  });

  it('never reaches the handler with a header injection attempt', async () => {
    const before = server.handled;
    const res = await rawRequest(
      server.port,
      `PUT /episodes/e1 HTTP/1.1\r\nHost: x\r\nX-Code-Commit: ${commits[0]}\rX-Admin: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(400); // node's parser refuses the bare CR before the gate runs
    expect(server.handled).toBe(before);
    // fetch itself refuses to send CR/LF in a header value.
    await expect(put(server.url, `${commits[0]}\r\nX-Admin: 1`)).rejects.toThrow();
  });

  it('ships with shipWithCommit: streams the body, and classifies 412 as fatal with the remediation logged once', async () => {
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 3; i += 1) yield new Uint8Array(1_000).fill(65 + i);
    }
    const good = await shipWithCommit({ url: `${server.url}/episodes/e2`, commit: commits[3]!, body: chunks() });
    expect(good._unsafeUnwrap()).toMatchObject({ verdict: 'ok', status: 201 });
    expect(JSON.parse(good._unsafeUnwrap().responseText)).toEqual({ commit: commits[3], bytes: 3_000 });

    const { logger, calls } = recordingLogger();
    const old = await shipWithCommit({ url: `${server.url}/episodes/e3`, commit: commits[120]!, body: 'x', logger });
    expect(old._unsafeUnwrap()).toMatchObject({
      verdict: 'fatal',
      status: 412,
      code: 'COMMIT_NOT_RECENT',
      remediation: REMEDIATION.join('\n'),
      yourCommit: commits[120],
      headCommit: commits[0],
    });
    expect(calls.error).toHaveLength(1);
    for (const line of REMEDIATION) expect(calls.error[0]).toContain(line);

    const aborted = await shipWithCommit({ url: `${server.url}/episodes/e7`, commit: commits[0]!, body: 'x', signal: AbortSignal.abort() });
    expect(aborted._unsafeUnwrapErr().code).toBe('ABORTED');

    const before = server.handled;
    const malformed = await shipWithCommit({ url: `${server.url}/episodes/e4`, commit: 'abc1234', body: 'x' });
    expect(malformed._unsafeUnwrapErr().code).toBe('COMMIT_MALFORMED');
    expect(server.handled).toBe(before);
  });
});

describe('503 when the gate never loaded', () => {
  it('answers 503 with Retry-After, and the shipper classifies it as retryable', async () => {
    const gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, git: join(scratchDir('nogit'), 'git'), ttlMs: 2_000 });
    const server = await serve(gate);
    try {
      const res = await put(server.url, commits[0]);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(await res.json()).toMatchObject({ code: 'GATE_UNAVAILABLE', remediation: null });
      const { logger, calls } = recordingLogger();
      const shipped = await shipWithCommit({ url: `${server.url}/episodes/e5`, commit: commits[0]!, body: 'x', logger });
      expect(shipped._unsafeUnwrap()).toMatchObject({ verdict: 'retry', status: 503, code: 'GATE_UNAVAILABLE' });
      expect(calls.error).toHaveLength(0);
      expect(calls.warn).toHaveLength(1);
      expect(server.handled).toBe(0);
    } finally {
      await server.close();
      await gate.close();
    }
  });

  it('treats a refused connection as retryable', async () => {
    const gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION });
    const server = await serve(gate);
    const url = server.url;
    await server.close();
    await gate.close();
    const shipped = await shipWithCommit({ url: `${url}/episodes/e6`, commit: commits[0]!, body: 'x' });
    expect(shipped._unsafeUnwrap()).toMatchObject({ verdict: 'retry', status: 0 });
  });

  it('a disabled gate lets everything through end to end', async () => {
    const gate = new VersionGate({ repoPath: join(scratchDir('gone'), 'repo'), remediation: REMEDIATION, enabled: false });
    const server = await serve(gate);
    try {
      expect((await put(server.url)).status).toBe(201);
      expect((await put(server.url, 'not-a-commit')).status).toBe(201);
    } finally {
      await server.close();
    }
  });

  it('a misconfigured gate answers 503 with Retry-After and never reaches the handler', async () => {
    // A zero window is invalid: the constructor does not throw, and the gate fails closed.
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION, window: 0 });
    const server = await serve(gate);
    try {
      const refused = await put(server.url, commits[0]);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(await refused.json()).toMatchObject({ code: 'GATE_UNAVAILABLE', remediation: null, your_commit: null });
      expect(server.handled).toBe(0);
      const shipped = await shipWithCommit({ url: `${server.url}/episodes/e7`, commit: commits[0]!, body: 'x' });
      expect(shipped._unsafeUnwrap()).toMatchObject({ verdict: 'retry', status: 503 });
    } finally {
      await server.close();
    }
  });
});

describe('framework adapters', () => {
  it('Express: the same middleware gates a route', async () => {
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION });
    const app = express();
    app.put('/episodes/:id', gate.middleware(), (req, res) => {
      res.status(201).json({ commit: acceptedCommit(req)?.commit ?? null });
    });
    const state = { handled: 0 };
    const server = await listen(createServer(app), state);
    try {
      const ok = await put(server.url, commits[10]);
      expect(ok.status).toBe(201);
      expect(await ok.json()).toEqual({ commit: commits[10] });
      const old = await put(server.url, commits[101]);
      expect(old.status).toBe(412);
      expect(await old.json()).toMatchObject({ code: 'COMMIT_NOT_RECENT', head_commit: commits[0] });
      expect((await put(server.url, 'deadbeef')).status).toBe(400);
    } finally {
      await server.close();
    }
  });

  it('Fastify: the hook answers rejections and passes accepted requests on', async () => {
    await using gate = new VersionGate({ repoPath: repo.dir, remediation: REMEDIATION });
    const app = Fastify();
    app.addHook('onRequest', gate.fastifyHook());
    let handled = 0;
    app.put('/episodes/:id', async (request, reply) => {
      handled += 1;
      return reply.code(201).send({ commit: acceptedCommit(request)?.commit ?? null });
    });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const ok = await put(address, commits[0]);
      expect(ok.status).toBe(201);
      expect(await ok.json()).toEqual({ commit: commits[0] });
      const old = await put(address, commits[125]);
      expect(old.status).toBe(412);
      expect(old.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await old.json()).toMatchObject({ code: 'COMMIT_NOT_RECENT', your_commit: commits[125], remediation: REMEDIATION.join('\n') });
      const missing = await put(address);
      expect(missing.status).toBe(400);
      const { port } = new URL(address);
      const twice = await rawRequest(
        Number(port),
        `PUT /episodes/e1 HTTP/1.1\r\nHost: x\r\nX-Code-Commit: ${commits[0]}\r\nX-Code-Commit: ${commits[0]}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      expect(twice.status).toBe(400);
      expect(JSON.parse(twice.body)).toMatchObject({ message: 'The x-code-commit header was sent 2 times; send it exactly once.' });
      expect(handled).toBe(1);
    } finally {
      await app.close();
    }
  });
});
