// One writer per connection: frames are coalesced and written to the socket in one write, as soon
// as the work that made them is done (see schedule()). Small frames share one buffer; large bodies
// go by reference.
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import process from 'node:process';
import {
  FRAME_END,
  Writer,
  copyInto,
  writeBodyFrameStart,
  writeHeaderFrame,
  writeSmallContent,
  writeHeartbeat,
  writeMethodFrame,
  FRAME_OVERHEAD,
  type Body,
  type DeliverFrame,
  type MethodInit,
} from '../frames/index.js';
import { RequestReply, afterWrite } from './idle-poll.js';

/** Bodies at least this big are not copied into the coalescing buffer. */
const BY_REFERENCE = 16 * 1024;
/** Bytes a tick may queue before deliveries pause until the socket has taken them. */
const TICK_HIGH_WATER = 1024 * 1024;

/**
 * Turns of the event loop, as far as the writers need to tell them apart: a writer's first flush
 * of a turn goes at once, later ones wait for the turn's I/O to be done (schedule()). The first
 * such flush of a turn arms an immediate that starts the next.
 */
let turn = 0;
let turnArmed = false;
const nextTurn = (): void => {
  turn++;
  turnArmed = false;
};

export class FrameWriter {
  /** Starts at 2 KiB (the handshake's frames), 64 KiB once a tick writes more than that. */
  private readonly w = new Writer(64 * 1024, 2048);
  private out: Buffer[] = [];
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();
  /** The turn of this writer's last flush that went at once. */
  private flushedTurn = -1;
  /** Bytes queued in this tick, not yet handed to the socket. */
  private pending = 0;
  /** Someone found us congested and waits to hear when that is over. */
  private owed = false;
  /** Deliveries were written since the last flush. */
  private delivered = false;
  /** Whether this connection answers its deliveries with publishes (idle-poll.ts). */
  readonly requestReply = new RequestReply();

  constructor(
    private readonly socket: Socket,
    public frameMax: number,
    /** Called when the writer can take deliveries again after being congested. */
    private readonly onWritable: () => void,
  ) {
    socket.on('drain', () => this.resume());
  }

  /**
   * True while the socket holds more than it wants, or this tick has queued a lot already:
   * deliveries then wait, and onWritable says when to go on.
   */
  get congested(): boolean {
    const c = this.socket.writableNeedDrain || this.w.length + this.pending > TICK_HIGH_WATER;
    if (c) this.owed = true;
    return c;
  }

  private resume(): void {
    if (!this.owed || this.socket.writableNeedDrain) return;
    this.owed = false;
    this.onWritable();
  }

  method(channel: number, m: MethodInit): void {
    writeMethodFrame(this.w, channel, m);
    this.schedule();
  }

  /** A content-carrying method followed by its header and body frames (spec 4.2.6). */
  content(channel: number, m: MethodInit, properties: Buffer, body: Body): void {
    writeMethodFrame(this.w, channel, m);
    this.contentFrames(channel, properties, body);
  }

  /** basic.deliver and its content, the hot path of every consumer. */
  deliver(
    frame: DeliverFrame,
    deliveryTag: number,
    redelivered: boolean,
    exchange: string,
    routingKey: string,
    properties: Buffer,
    body: Body,
  ): void {
    frame.write(this.w, deliveryTag, redelivered, exchange, routingKey);
    this.delivered = true;
    this.contentFrames(frame.channel, properties, body);
  }

  private contentFrames(channel: number, properties: Buffer, body: Body): void {
    if (!Buffer.isBuffer(body)) return this.piecesFrames(channel, properties, body.pieces, body.size);
    const w = this.w;
    if (body.length < BY_REFERENCE && body.length <= this.frameMax - FRAME_OVERHEAD) {
      writeSmallContent(w, channel, properties, body);
      this.schedule();
      return;
    }
    writeHeaderFrame(w, channel, body.length, properties);
    const max = this.frameMax - FRAME_OVERHEAD;
    for (let off = 0; off < body.length; off += max) {
      const end = Math.min(off + max, body.length);
      writeBodyFrameStart(w, channel, end - off);
      if (end - off >= BY_REFERENCE) {
        this.queue(w.take());
        this.queue(body.subarray(off, end));
      } else {
        w.ensure(end - off);
        if (off === 0 && end === body.length) w.pos = copyInto(body, w.buf, w.pos);
        else w.pos += body.copy(w.buf, w.pos, off, end);
      }
      w.u8(FRAME_END);
    }
    this.schedule();
  }

  /**
   * contentFrames for a body in pieces (body.ts): the body frames are cut at frameMax as always,
   * and each takes the pieces, or parts of pieces, its bytes are in, by reference.
   */
  private piecesFrames(channel: number, properties: Buffer, pieces: readonly Buffer[], size: number): void {
    const w = this.w;
    writeHeaderFrame(w, channel, size, properties);
    const max = this.frameMax - FRAME_OVERHEAD;
    let i = 0;
    let at = 0; // in pieces[i]
    for (let left = size; left > 0; ) {
      let n = Math.min(max, left);
      left -= n;
      writeBodyFrameStart(w, channel, n);
      while (n > 0) {
        const p = pieces[i]!;
        const take = Math.min(n, p.length - at);
        if (take >= BY_REFERENCE) {
          if (w.length > 0) this.queue(w.take());
          this.queue(take === p.length ? p : p.subarray(at, at + take));
        } else {
          w.ensure(take);
          w.pos += p.copy(w.buf, w.pos, at, at + take);
        }
        n -= take;
        at += take;
        if (at === p.length) {
          i++;
          at = 0;
        }
      }
      w.u8(FRAME_END);
    }
    this.schedule();
  }

  heartbeat(): void {
    writeHeartbeat(this.w);
    this.flush();
  }

  /** Writes handed to the socket, one per flush (the management API's send_cnt). */
  sends = 0;
  /**
   * Flushes whose bytes the socket has taken (handed to the kernel, or dropped with the socket):
   * a delivery's body may be reused once its flush is done (Message.recycle), never before.
   */
  flushesDone = 0;
  private readonly flushDone = (): void => {
    this.flushesDone++;
  };

  /** The number the next flush will have: what is written now goes out with it. */
  get nextFlush(): number {
    return this.sends + 1;
  }

  flush(): void {
    this.scheduled = false;
    if (this.w.length > 0) this.queue(this.w.take());
    const out = this.out;
    if (out.length === 0 || this.socket.destroyed) {
      this.out = [];
      return;
    }
    this.out = [];
    this.pending = 0;
    this.sends++;
    if (this.delivered) {
      this.delivered = false;
      if (this.requestReply.delivering()) afterWrite();
    }
    // Write callbacks come in order, after the socket is done with the bytes (or has failed).
    if (out.length === 1) {
      this.socket.write(out[0]!, this.flushDone);
    } else {
      this.socket.cork();
      const last = out.length - 1;
      for (let i = 0; i < last; i++) this.socket.write(out[i]!);
      this.socket.write(out[last]!, this.flushDone);
      this.socket.uncork();
    }
    this.resume();
  }

  private queue(b: Buffer): void {
    this.out.push(b);
    this.pending += b.length;
  }

  /**
   * The first flush of a turn runs once the current callback's work is done (process.nextTick:
   * every frame of the socket read being handled, and the queue dispatches it caused, are in by
   * then), so a reply or delivery leaves in the same callback as the read that caused it: an RPC
   * hop or a message at a steady rate waits for nothing. Flushing at the end of the turn
   * (setImmediate, the check phase) cost each such hop ~1 µs more: another call from libuv into
   * JS, and the immediate's bookkeeping (README, "RPC: the flush of a hop, and idle wake-ups").
   * Later flushes in the same turn wait for the check phase, so a consumer fed by many
   * publishers' reads in one turn still gets one write for all but the first.
   */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    if (this.flushedTurn === turn) {
      setImmediate(this.flushNow);
      return;
    }
    this.flushedTurn = turn;
    if (!turnArmed) {
      turnArmed = true;
      setImmediate(nextTurn);
    }
    process.nextTick(this.flushNow);
  }
}
