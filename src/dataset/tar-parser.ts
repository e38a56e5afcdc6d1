import { isUtf8 } from 'node:buffer';
import { createHash, type Hash } from 'node:crypto';
import { BLOCK, checksumMatches, numeric, pythonReadsNumber } from '../_internals/tar-header.ts';

/**
 * The reader's only tar parser. It runs on the decode thread for file inputs
 * and on the main thread for stream inputs, and it alone decides which bytes
 * belong to which member: the bytes it marks as a member's data are the bytes
 * it hashes and the bytes the caller is handed. It imports nothing but
 * `node:crypto`, `node:buffer` and the header fields' reader (which imports nothing), so a
 * worker thread can load it from the TypeScript sources.
 *
 * What it accepts: regular files (`0`, NUL, `7`), directories (`5`, reported
 * by name; one with a size is refused, as GNU tar reads what follows it as
 * entries), PAX headers (`x`, `g`) and GNU long names (`L`), in ustar, GNU,
 * PAX and v7 headers. Everything else (links, devices, FIFOs, GNU `N`/`V`/`M`/`S`/`K`/`D`,
 * vendor letters, PAX sparse keys) is refused. Like GNU tar it stops at the
 * first zero block: what follows the end of the archive is never read.
 *
 * PAX records: a record whose length field does not end it at a newline
 * inside the header, a keyword that is empty, holds a NUL byte or follows
 * more than one space after the length, and a
 * `size` that is not a decimal integer this parser can hold are TAR_CORRUPT
 * (the member's bytes could not be trusted), and so is a second `x` header
 * before one member: GNU tar reads only the last, other readers merge them.
 * Keywords it does not use
 * (`mtime`, `atime`, `uid`, `gid`, `uname`, `comment`…) are ignored, even
 * when GNU tar finds their values invalid, and so are the header's own
 * fields other than name, prefix, size, type and checksum: GNU tar still
 * extracts the same bytes under the same name, and only the file's
 * metadata differs. But a header's mode, uid, gid, mtime, devmajor or
 * devminor that is not an octal number (blanks around it allowed) or
 * base-256 is TAR_CORRUPT: Python's tarfile takes that header for the end
 * of the archive and silently lists no member from there on.
 *
 * A GNU long name (`L`) is read as GNU tar reads it: from its data and the
 * padding after it, up to the first NUL.
 *
 * Only a ustar header (magic `ustar\0`) has a name prefix at bytes 345-499.
 * A GNU or v7 header holding bytes there (a GNU incremental archive keeps
 * the atime there) is TAR_CORRUPT unless a PAX path or long name names the
 * member: GNU tar ignores them, Python's tarfile joins them to the name.
 */

/** Something the parser found, in archive order. `data` ranges index the chunk just pushed. */
export type TarEvent =
  | { readonly type: 'member'; readonly name: string; readonly size: number; readonly offset: number }
  | { readonly type: 'directory'; readonly name: string; readonly offset: number }
  | { readonly type: 'data'; readonly start: number; readonly end: number }
  /** `sha256` is `null` when the parser was made with `hashMembers: false`. */
  | { readonly type: 'member-end'; readonly sha256: string | null }
  | { readonly type: 'end'; readonly offset: number }
  | { readonly type: 'error'; readonly problem: TarProblem };

/** Why the archive was refused, as plain data so that it can cross a thread boundary. */
export interface TarProblem {
  readonly code: 'TAR_CORRUPT' | 'TAR_TRUNCATED' | 'MEMBER_TYPE_UNSUPPORTED' | 'MEMBER_PATH_UNSAFE';
  readonly message: string;
  /** Tar byte offset of the header concerned (or where the archive stopped). */
  readonly offset: number;
  readonly member?: string;
}

/** Largest PAX or GNU long-name block accepted: names and sizes fit in far less. */
const MAX_META_BYTES = 1024 * 1024;

/** Names of the header types refused, for the message. */
const REFUSED_TYPES: Readonly<Record<string, string>> = {
  '1': 'hard link',
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO',
  K: 'GNU long link name',
  N: 'GNU old-style long name',
  V: 'GNU volume label',
  M: 'GNU multi-volume continuation',
  S: 'GNU sparse file',
  D: 'GNU dump directory',
};

/**
 * Numeric header fields the parser does not use, but Python's tarfile reads
 * in every header: one it cannot read ends the archive there for it.
 */
const OTHER_NUMBERS: readonly (readonly [string, number, number])[] = [
  ['mode', 100, 8],
  ['uid', 108, 8],
  ['gid', 116, 8],
  ['mtime', 136, 12],
  ['devmajor', 329, 8],
  ['devminor', 337, 8],
];

/** Header fields the parser uses. */
interface Header {
  readonly type: string;
  readonly name: string;
  readonly size: number;
  /** Bytes in the prefix field of a header that has none (GNU, v7), which Python's tarfile joins to the name. */
  readonly strayPrefix: boolean;
}

type State =
  | { readonly kind: 'header' }
  | { readonly kind: 'member'; remaining: number; readonly padding: number; readonly hash: Hash | null }
  | {
      readonly kind: 'meta';
      remaining: number;
      readonly padding: number;
      readonly type: 'x' | 'g' | 'L';
      readonly parts: Buffer[];
      readonly offset: number;
    }
  | { readonly kind: 'padding'; remaining: number }
  | { readonly kind: 'done' }
  | { readonly kind: 'failed' };

class Refusal extends Error {
  readonly problem: TarProblem;
  constructor(problem: TarProblem) {
    super(problem.message);
    this.problem = problem;
  }
}

function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The bytes of a NUL-terminated field, up to `length`. */
function cBytes(block: Buffer, at: number, length: number): Buffer {
  const end = block.indexOf(0, at);
  return block.subarray(at, end === -1 || end > at + length ? at + length : end);
}

/** PAX records by key, and the keys whose values are not UTF-8 (decoded with U+FFFD here, kept as bytes by tar). */
interface PaxRecords {
  readonly records: Map<string, string>;
  readonly notUtf8: Set<string>;
}

/**
 * Splits PAX records (`<length> <key>=<value>\n`); undefined when malformed.
 * A keyword holding a NUL byte is malformed: GNU tar fails on it ("missing
 * equal sign"), and a reader that stops a keyword at its NUL would read
 * `size\0x=5` as a size or `path\0x=…` as a name this parser never saw.
 * So is one after more than the one space (`12  path=b\n`): GNU tar skips
 * the extra spaces and tabs and reads a `path` or `size`, where readers
 * that skip one space (as POSIX writes it) read an unknown keyword.
 */
function paxRecords(data: Buffer): PaxRecords | undefined {
  const records = new Map<string, string>();
  const notUtf8 = new Set<string>();
  for (let at = 0; at < data.length; ) {
    const space = data.indexOf(0x20, at);
    if (space === -1) return undefined;
    const lengthText = data.toString('latin1', at, space);
    const length = Number(lengthText);
    if (!/^[1-9][0-9]*$/.test(lengthText) || at + length > data.length || data[at + length - 1] !== 0x0a) return undefined;
    const bytes = data.subarray(space + 1, at + length - 1);
    const record = bytes.toString('utf8');
    const equals = record.indexOf('=');
    if (equals <= 0 || record.slice(0, equals).includes('\0') || record[0] === ' ' || record[0] === '\t') return undefined;
    records.set(record.slice(0, equals), record.slice(equals + 1));
    if (!isUtf8(bytes)) notUtf8.add(record.slice(0, equals));
    at += length;
  }
  return { records, notUtf8 };
}

/** A push parser over decoded tar bytes: `push` returns what each chunk holds, `end` what the end of input means. */
export class TarParser {
  /** False: members' data is not hashed, and `member-end` carries `sha256: null`. */
  readonly #hashMembers: boolean;
  #state: State = { kind: 'header' };
  readonly #block = Buffer.alloc(BLOCK);
  #filled = 0;
  /** Tar bytes consumed so far. */
  #offset = 0;
  #pending:
    | {
        readonly path: string | undefined;
        readonly size: number | undefined;
        readonly offset: number;
        /** Where the PAX `x` header that set any of this is, if one did (not only a GNU long name). */
        readonly paxAt: number | undefined;
      }
    | undefined;

  constructor(options: { readonly hashMembers?: boolean } = {}) {
    this.#hashMembers = options.hashMembers ?? true;
  }

  /** Parses `chunk`; ranges in the `data` events index into it. After `end` or `error`, input is ignored. */
  push(chunk: Uint8Array): TarEvent[] {
    const events: TarEvent[] = [];
    try {
      this.#consume(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), events);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      this.#state = { kind: 'failed' };
      events.push({ type: 'error', problem: error.problem });
    }
    return events;
  }

  /** The input has ended: the archive must not stop inside a header or a member. */
  end(): TarEvent[] {
    const { kind } = this.#state;
    if (kind === 'done' || kind === 'failed') return [];
    if (kind === 'header' && this.#filled === 0 && this.#pending === undefined) {
      // GNU tar accepts an archive without its closing zero blocks.
      this.#state = { kind: 'done' };
      return [{ type: 'end', offset: this.#offset }];
    }
    this.#state = { kind: 'failed' };
    return [
      {
        type: 'error',
        problem: {
          code: 'TAR_TRUNCATED',
          message: `tar archive ends inside a member or header (after ${this.#offset} tar bytes); the file is incomplete.`,
          offset: this.#offset,
        },
      },
    ];
  }

  /** True once the end-of-archive block has been seen: later input is ignored. */
  get ended(): boolean {
    return this.#state.kind === 'done';
  }

  #consume(chunk: Buffer, events: TarEvent[]): void {
    let at = 0;
    while (at < chunk.length) {
      const state = this.#state;
      if (state.kind === 'done' || state.kind === 'failed') return;
      if (state.kind === 'header') {
        const n = Math.min(BLOCK - this.#filled, chunk.length - at);
        chunk.copy(this.#block, this.#filled, at, at + n);
        this.#filled += n;
        at += n;
        this.#offset += n;
        if (this.#filled === BLOCK) {
          this.#filled = 0;
          this.#onHeader(this.#offset - BLOCK, events);
        }
        continue;
      }
      const n = Math.min(state.remaining, chunk.length - at);
      if (state.kind === 'member') {
        state.hash?.update(chunk.subarray(at, at + n));
        events.push({ type: 'data', start: at, end: at + n });
      } else if (state.kind === 'meta') {
        state.parts.push(Buffer.from(chunk.subarray(at, at + n)));
      }
      state.remaining -= n;
      at += n;
      this.#offset += n;
      if (state.remaining === 0) this.#onDataEnd(state, events);
    }
  }

  /** A member's or meta header's data has all been read: its padding comes next. */
  #onDataEnd(state: State, events: TarEvent[]): void {
    if (state.kind === 'member') events.push({ type: 'member-end', sha256: state.hash?.digest('hex') ?? null });
    else if (state.kind === 'meta') this.#onMeta(state.type, Buffer.concat(state.parts), state.offset);
    const padding = 'padding' in state ? state.padding : 0;
    this.#state = padding > 0 ? { kind: 'padding', remaining: padding } : { kind: 'header' };
  }

  #onHeader(offset: number, events: TarEvent[]): void {
    const block = this.#block;
    if (block.every((b) => b === 0)) {
      if (this.#pending)
        this.#refuse(
          'TAR_CORRUPT',
          `a PAX or GNU long-name header at tar byte ${this.#pending.offset} describes no member; the archive is malformed.`,
          this.#pending.offset,
        );
      this.#state = { kind: 'done' };
      events.push({ type: 'end', offset });
      return;
    }
    if (!checksumMatches(block))
      this.#refuse('TAR_CORRUPT', `tar header checksum mismatch at tar byte ${offset}; the archive is corrupt.`, offset);
    for (const [field, at, length] of OTHER_NUMBERS) {
      if (!pythonReadsNumber(block, at, length))
        this.#refuse(
          'TAR_CORRUPT',
          `the ${field} field of the tar header at tar byte ${offset} holds ${JSON.stringify(block.toString('latin1', at, at + length))}, not an octal number: Python's tarfile takes such a header for the end of the archive and silently drops this entry and every one after it, where GNU tar reads or ignores it; rebuild the archive.`,
          offset,
        );
    }
    const header = this.#header(block, offset);
    const pending = this.#pending;
    const type = header.type;
    if (type === 'x' || type === 'g' || type === 'L') {
      // GNU tar keeps only the last PAX header before a member (the keys of an earlier one are dropped, a `size` or
      // `path` among them), other readers merge them: the member's name or size would be read two ways.
      if (type === 'x' && pending?.paxAt !== undefined)
        this.#refuse(
          'TAR_CORRUPT',
          `the PAX header at tar byte ${offset} follows another one (at tar byte ${pending.paxAt}) for the same member; GNU tar reads only the last of them and other readers merge them: rebuild the archive with one PAX header per member.`,
          offset,
        );
      if (header.size > MAX_META_BYTES)
        this.#refuse(
          'TAR_CORRUPT',
          `the ${type} header at tar byte ${offset} claims ${header.size} bytes; the archive is malformed.`,
          offset,
        );
      // GNU tar reads a long name from the whole blocks, padding included, up to the first NUL: a name that does
      // not end within its size goes on into the padding (`abc` with `def.ndjson` after it is abcdef.ndjson).
      const padding = paddingOf(header.size);
      const collected = type === 'L' ? header.size + padding : header.size;
      this.#begin({ kind: 'meta', remaining: collected, padding: type === 'L' ? 0 : padding, type, parts: [], offset }, events);
      return;
    }
    this.#pending = undefined;
    const name = pending?.path ?? header.name;
    const size = pending?.size ?? header.size;
    const file = type === '0' || type === '\0' || type === '7';
    // GNU tar reads a name prefix from a ustar header only; Python's tarfile joins those bytes to the name in any
    // header (a GNU incremental archive keeps the atime there: `15305566256/a.ndjson`). A PAX path or long name wins for both.
    if ((file || type === '5') && header.strayPrefix && pending?.path === undefined)
      this.#refuse(
        'TAR_CORRUPT',
        `the header of ${JSON.stringify(name)} at tar byte ${offset} has no prefix field (it is not ustar), yet holds bytes there, which GNU tar ignores and Python's tarfile joins to the name (${JSON.stringify(`${cBytes(this.#block, 345, 155).toString('latin1')}/${name}`)}); rebuild the archive without incremental or atime data (tar --format=posix, or writeDataset).`,
        offset,
        name,
      );
    // GNU tar extracts a file entry whose name ends in "/" as a directory (old
    // tars wrote directories so): an empty one is a directory here too.
    const slashed = file && name.endsWith('/');
    // A directory has no data, so one whose header claims a size is refused:
    // GNU tar ignores a directory's size and reads the bytes after its header
    // as the next entries (and extracts them), and drops a slashed file's data.
    if ((type === '5' || slashed) && size > 0) {
      const what = slashed
        ? 'a file whose name ends in "/", which tar extracts as an empty directory, dropping its data'
        : `a directory whose header claims ${size} bytes of data, which GNU tar reads as the entries that follow`;
      this.#refuse(
        'MEMBER_TYPE_UNSUPPORTED',
        `member ${JSON.stringify(name)} at tar byte ${offset} is ${what}; rebuild the archive${slashed ? ' without the slash' : ''}.`,
        offset,
        name,
      );
    }
    if (type === '5' || slashed) {
      events.push({ type: 'directory', name, offset });
    } else if (file) {
      events.push({ type: 'member', name, size, offset });
      this.#begin(
        { kind: 'member', remaining: size, padding: paddingOf(size), hash: this.#hashMembers ? createHash('sha256') : null },
        events,
      );
    } else {
      const what = REFUSED_TYPES[type] ?? `header of unknown type ${JSON.stringify(type)}`;
      this.#refuse(
        'MEMBER_TYPE_UNSUPPORTED',
        `member ${JSON.stringify(name)} at tar byte ${offset} is a ${what}; datasets hold regular files and directories only.`,
        offset,
        name,
      );
    }
  }

  #begin(state: State & { remaining: number; padding: number }, events: TarEvent[]): void {
    this.#state = state;
    if (state.remaining === 0) this.#onDataEnd(state, events);
  }

  #header(block: Buffer, offset: number): Header {
    const size = numeric(block, 124, 12);
    if (size === undefined)
      this.#refuse('TAR_CORRUPT', `tar header at tar byte ${offset} has an invalid size field; the archive is corrupt.`, offset);
    const magic = block.toString('latin1', 257, 263);
    const name = this.#utf8Name(cBytes(block, 0, 100), offset, 'name field');
    // Only POSIX ustar has a prefix field; GNU headers keep other data there (see `strayPrefix`).
    const prefix = magic === 'ustar\0' ? this.#utf8Name(cBytes(block, 345, 155), offset, 'prefix field') : '';
    return {
      type: String.fromCharCode(block[156]!),
      name: prefix ? `${prefix}/${name}` : name,
      size: size!,
      strayPrefix: magic !== 'ustar\0' && block[345] !== 0,
    };
  }

  /**
   * A name's bytes as text. Bytes that are not UTF-8 are refused: decoded,
   * they would become U+FFFD, another name than the one `tar -x` gives the
   * file, and one no manifest (JSON, so UTF-8) could name.
   */
  #utf8Name(bytes: Buffer, offset: number, where: string): string {
    const name = bytes.toString('utf8');
    if (!isUtf8(bytes)) this.#notUtf8(name, offset, where);
    return name;
  }

  #notUtf8(decoded: string, offset: number, where: string): never {
    this.#refuse(
      'MEMBER_PATH_UNSAFE',
      `the ${where} at tar byte ${offset} is not UTF-8 (${JSON.stringify(decoded)}, with U+FFFD for the other bytes); tar would extract the file under a name no manifest can hold: rename it in UTF-8.`,
      offset,
      decoded,
    );
  }

  #onMeta(type: 'x' | 'g' | 'L', data: Buffer, offset: number): void {
    if (type === 'L') {
      this.#setPending(offset, this.#utf8Name(cBytes(data, 0, data.length), offset, 'GNU long name'), undefined, undefined);
      return;
    }
    const pax = paxRecords(data);
    if (!pax) this.#refuse('TAR_CORRUPT', `the PAX header at tar byte ${offset} is malformed.`, offset);
    const records = pax!.records;
    if (pax!.notUtf8.has('path')) this.#notUtf8(records.get('path')!, offset, 'PAX path');
    for (const key of records!.keys()) {
      if (key.startsWith('GNU.sparse.'))
        this.#refuse(
          'MEMBER_TYPE_UNSUPPORTED',
          `the PAX header at tar byte ${offset} describes a GNU sparse file; datasets hold regular files only.`,
          offset,
        );
    }
    if (type === 'g') {
      // Readers disagree on whether a global path or size applies to later members.
      for (const key of ['path', 'size']) {
        if (records!.has(key))
          this.#refuse(
            'MEMBER_TYPE_UNSUPPORTED',
            `the global PAX header at tar byte ${offset} sets "${key}" for every later member; rebuild the archive without it.`,
            offset,
          );
      }
      return;
    }
    const path = records!.get('path');
    const sizeText = records!.get('size');
    if (sizeText !== undefined && !/^[0-9]+$/.test(sizeText))
      this.#refuse('TAR_CORRUPT', `the PAX header at tar byte ${offset} has an invalid size ${JSON.stringify(sizeText)}.`, offset);
    const size = sizeText === undefined ? undefined : Number(sizeText);
    if (size !== undefined && !Number.isSafeInteger(size))
      this.#refuse('TAR_CORRUPT', `the PAX header at tar byte ${offset} has a size too large to read.`, offset);
    this.#setPending(offset, path, size, offset);
  }

  /** Name and size may each be set once per member: readers disagree on which of two wins. */
  #setPending(offset: number, path: string | undefined, size: number | undefined, paxAt: number | undefined): void {
    const pending = this.#pending;
    if ((path !== undefined && pending?.path !== undefined) || (size !== undefined && pending?.size !== undefined)) {
      this.#refuse(
        'TAR_CORRUPT',
        `the header at tar byte ${offset} sets a member's ${path !== undefined ? 'name' : 'size'} a second time; the archive is malformed.`,
        offset,
      );
    }
    const merged = {
      offset: pending?.offset ?? offset,
      path: path ?? pending?.path,
      size: size ?? pending?.size,
      paxAt: paxAt ?? pending?.paxAt,
    };
    this.#pending = merged;
  }

  #refuse(code: TarProblem['code'], message: string, offset: number, member?: string): never {
    throw new Refusal({ code, message, offset, ...(member === undefined ? {} : { member }) });
  }
}
