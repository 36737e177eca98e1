// A message body as the broker holds it. A large body stays in the pieces it arrived in (views
// of the socket's reads, which are mostly body bytes) rather than being joined: it is written to
// consumers, body files and page files by reference, piece by piece, so it is never copied in
// user space and no buffer of its size is allocated for it. Joining a 1 MiB body cost a copy
// and, worse, an allocation outside V8's heap that counts towards its next full collection: a
// 1 MiB flood ran a mark-compact every 25 ms (README, "Large messages"). A channel's large bodies
// are now copied once into pool slabs instead (body-pool.ts: PooledBody is a BodyPieces whose
// pieces are slabs, given back on ack); bodies in pieces of socket reads remain for assemblers
// that do not pool.
import { Buffer } from 'node:buffer';

/** A large body's pieces, in order, and their total size. */
export class BodyPieces {
  constructor(
    readonly pieces: readonly Buffer[],
    readonly size: number,
  ) {}
}

/** One buffer, or a large body in pieces (no length: bodyLength says it for both). */
export type Body = Buffer | BodyPieces;

export function bodyLength(body: Body): number {
  // Asked several times per message: a check of our own class costs less than Buffer.isBuffer.
  return body instanceof BodyPieces ? body.size : body.length;
}

/** Adds the body's bytes to a writev list, by reference: the buffer, or each piece (none if empty). */
export function pushBody(list: Buffer[], body: Body): void {
  if (!Buffer.isBuffer(body)) for (const piece of body.pieces) list.push(piece);
  else if (body.length > 0) list.push(body);
}

/** The body in one buffer: itself, or its pieces joined (a copy). */
export function joinBody(body: Body): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.concat(body.pieces as Buffer[], body.size);
}
