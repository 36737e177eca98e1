// Wire constants of AMQP 0-9-1 (spec section 4.2.3) and the reply codes RabbitMQ uses.
import { Buffer } from 'node:buffer';

export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const FRAME_END = 0xce;
export const FRAME_MIN_SIZE = 4096;
/** type(1) + channel(2) + size(4) + frame-end(1) */
export const FRAME_OVERHEAD = 8;

/** What a client must send first; also what we answer a wrong header with. */
export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
/**
 * AMQP 0-9's header ("AMQP" 1 1 0 9), which RabbitMQ takes as 0-9-1 (rabbit_reader: "we can
 * safely treat [it] as though it were 0-9-1"); Perl's AnyEvent::RabbitMQ and Net::AMQP send it.
 */
export const PROTOCOL_HEADER_0_9 = Buffer.from([0x41, 0x4d, 0x51, 0x50, 1, 1, 0, 9]);

export const ReplyCode = {
  Success: 200,
  ContentTooLarge: 311,
  NoRoute: 312,
  NoConsumers: 313,
  ConnectionForced: 320,
  InvalidPath: 402,
  AccessRefused: 403,
  NotFound: 404,
  ResourceLocked: 405,
  PreconditionFailed: 406,
  FrameError: 501,
  SyntaxError: 502,
  CommandInvalid: 503,
  ChannelError: 504,
  UnexpectedFrame: 505,
  ResourceError: 506,
  NotAllowed: 530,
  NotImplemented: 540,
  InternalError: 541,
} as const;
export type ReplyCodeValue = (typeof ReplyCode)[keyof typeof ReplyCode];

/** RabbitMQ prefixes reply texts with the constant's name, e.g. "NOT_FOUND - no queue 'q' in vhost '/'". */
export const replyCodeName: Record<number, string> = {
  200: 'OK',
  311: 'CONTENT_TOO_LARGE',
  312: 'NO_ROUTE',
  313: 'NO_CONSUMERS',
  320: 'CONNECTION_FORCED',
  402: 'INVALID_PATH',
  403: 'ACCESS_REFUSED',
  404: 'NOT_FOUND',
  405: 'RESOURCE_LOCKED',
  406: 'PRECONDITION_FAILED',
  501: 'FRAME_ERROR',
  502: 'SYNTAX_ERROR',
  503: 'COMMAND_INVALID',
  504: 'CHANNEL_ERROR',
  505: 'UNEXPECTED_FRAME',
  506: 'RESOURCE_ERROR',
  530: 'NOT_ALLOWED',
  540: 'NOT_IMPLEMENTED',
  541: 'INTERNAL_ERROR',
};
