/**
 * A DataView of the chunk FrameParser.push is parsing, for compares four bytes at a time
 * (assembler.ts sameNames: a byte loop over a publish's exchange and routing key was 5% of
 * persistent publish-only's main thread). Made at the second use in a push, so that a read of one
 * publish (an RPC request) does not pay for it; dropped when the push returns: kept past it, it
 * would hold a connection's read buffer after the connection moved to another
 * (server/socket-reads.ts). A nested push (a direct connection's, inside another's) saves and
 * restores it.
 */
export const parsing: { chunk: Buffer | null; view: DataView | null; asked: boolean } = { chunk: null, view: null, asked: false };

/** The push's DataView of b when b is its chunk and this is not the push's first ask; else null. */
export function viewOf(b: Buffer): DataView | null {
  if (b !== parsing.chunk) return null;
  if (parsing.view) return parsing.view;
  if (!parsing.asked) {
    parsing.asked = true;
    return null;
  }
  return (parsing.view = new DataView(b.buffer, b.byteOffset, b.length));
}
