// SASL mechanisms offered in connection.start: PLAIN (RFC 4616) and RabbitMQ's AMQPLAIN.
import { Buffer } from 'node:buffer';
import { Reader, readTable, fromFieldValue } from '../frames/index.js';

export const MECHANISMS = 'PLAIN AMQPLAIN';

export interface Credentials {
  user: string;
  pass: string;
}

/** Extracts user and password from a start-ok response; null when it is not well-formed. */
export function parseResponse(mechanism: string, response: Buffer): Credentials | null {
  if (mechanism === 'PLAIN') {
    // [authzid] NUL authcid NUL passwd (RFC 4616); like RabbitMQ (rabbit_auth_mechanism_plain),
    // no authorization identity is accepted: the response must start with its NUL.
    const parts = response.toString('utf8').split('\0');
    if (parts.length !== 3 || parts[0] !== '') return null;
    return { user: parts[1]!, pass: parts[2]! };
  }
  if (mechanism === 'AMQPLAIN') {
    // A field table without its leading length.
    const b = Buffer.allocUnsafe(4 + response.length);
    b.writeUInt32BE(response.length, 0);
    response.copy(b, 4);
    try {
      const t = readTable(new Reader(b, 0, b.length));
      const login = t.get('LOGIN');
      const password = t.get('PASSWORD');
      if (!login || !password) return null;
      return { user: String(fromFieldValue(login)), pass: String(fromFieldValue(password)) };
    } catch {
      return null;
    }
  }
  return null;
}
