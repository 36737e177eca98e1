/**
 * Counts the body bytes the frames layer took in for messages of LARGE_BODY bytes or more, so that
 * a connection that reads into a buffer of its own (server/socket-reads.ts) can tell a read that
 * was mostly such a body: for those, larger reads cost fewer calls into the kernel and nothing
 * else. A read of smaller messages would carry more of them per tick, which changes what the
 * store's write cycle sees at once (a 256 KiB read of 64 KiB bodies ended its holds for acks
 * early: README, "Reads of up to 256 KiB"). One count for every connection, as keptViews: the
 * process has one thread, and a push is never interleaved.
 */
export const LARGE_BODY = 256 * 1024;

export const largeBodies = { bytes: 0 };
