// HTTP answers for protocol errors raised by the broker's own checks, as RabbitMQ's API gives them.
import { AmqpError } from '../frames/index.js';
import { missingKeysText } from '../server/missing-keys.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    /** Nearly always a text; a list where 3.10.8 answers with an Erlang term printed as JSON. */
    readonly reason: string | readonly (string | number | boolean | null)[],
  ) {
    super(String(reason));
  }
}

export const notFound = (what = 'Not Found'): HttpError => new HttpError(404, 'Object Not Found', what);
export const badRequest = (reason: string): HttpError => new HttpError(400, 'bad_request', reason);
/**
 * What 3.10.8's API makes of the channel's ACCESS_REFUSED for the reserved names (declaring an
 * amq.* queue or exchange, deleting a standard exchange, binding from the default one).
 */
export const accessRefused = (): HttpError => new HttpError(401, 'not_authorised', 'Access refused.');

/** 400 naming every key of keys (in RabbitMQ's order) the body lacks, in RabbitMQ's words (missing-keys.ts). */
export function requireKeys(body: unknown, keys: readonly string[]): void {
  const text = missingKeysText(body, keys);
  if (text !== null) throw badRequest(text);
}

/** Maps an AMQP error from a broker check (406 inequivalent, 403 reserved name…) to HTTP. */
export function fromAmqp(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof AmqpError) {
    const status = e.code === 404 ? 404 : e.code === 403 ? 403 : e.code === 405 ? 405 : 400;
    // RabbitMQ's API gives the text without AMQP's "PRECONDITION_FAILED - " prefix.
    return new HttpError(status, status === 404 ? 'Object Not Found' : 'bad_request', e.message);
  }
  throw e;
}
