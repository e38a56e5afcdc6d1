/**
 * Tar blocks written by hand, for tests that need headers no archiver
 * writes: one ustar header, a member with its padding, a PAX `path` header.
 */

/** Fills in the header checksum of `block` (in place) and returns it. */
export function withChecksum(block: Buffer): Buffer {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of block) sum += x;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return block;
}

/** One ustar header block: `name` (UTF-8 text, or raw bytes), a size and a type letter. */
export function tarHeader(name: string | Buffer, size: number, type: string): Buffer {
  const b = Buffer.alloc(512);
  const bytes = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  bytes.copy(b, 0, 0, Math.min(100, bytes.length));
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  b.write('00000000000\0', 136);
  b.write(type, 156);
  b.write('ustar\0', 257);
  b.write('00', 263);
  return withChecksum(b);
}

/** `data` followed by zeros up to the next 512-byte block. */
export const padded = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);

/** A header and its padded data. */
export const tarMember = (name: string | Buffer, data: Buffer, type = '0'): Buffer =>
  Buffer.concat([tarHeader(name, data.length, type), padded(data)]);

/** A PAX header (`x`) giving the next entry's path (text, or raw bytes). */
export function paxPath(path: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(' path='), typeof path === 'string' ? Buffer.from(path, 'utf8') : path, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length += 1;
  return tarMember('PaxHeader', Buffer.concat([Buffer.from(String(length)), body]), 'x');
}
