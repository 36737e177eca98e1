/**
 * Counts the views of received chunks that the frames layer lets outlive the push that made them:
 * a large body kept in its reads, by reference (assembler.ts), and a streamed body frame's last
 * piece held until its frame-end octet (frame-parser.ts). Everything else a push takes from a chunk
 * is copied before the push returns. So a connection that reads into a buffer of its own
 * (server/socket-reads.ts) may read the next chunk into the same buffer unless this count moved
 * while the chunk was pushed; then the chunk belongs to what kept it, and a fresh buffer is taken.
 * One count for every connection: the process has one thread, and a push is never interleaved.
 */
export const keptViews = { count: 0 };
