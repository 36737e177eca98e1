// Message properties from the JSON the management API takes on publish, to the wire form.
import { Buffer } from 'node:buffer';
import { Writer, encodeBasicProperties, toFieldTable, type BasicProperties, type PlainValue } from '../frames/index.js';

export interface PropertiesJson {
  content_type?: string;
  content_encoding?: string;
  headers?: { [k: string]: PlainValue };
  delivery_mode?: number;
  priority?: number;
  correlation_id?: string;
  reply_to?: string;
  expiration?: string;
  message_id?: string;
  timestamp?: number;
  type?: string;
  user_id?: string;
  app_id?: string;
}

export function encodePropertiesJson(p: PropertiesJson): Buffer {
  const props: BasicProperties = {
    contentType: p.content_type,
    contentEncoding: p.content_encoding,
    headers: p.headers ? toFieldTable(p.headers) : undefined,
    deliveryMode: p.delivery_mode,
    priority: p.priority,
    correlationId: p.correlation_id,
    replyTo: p.reply_to,
    expiration: p.expiration,
    messageId: p.message_id,
    timestamp: p.timestamp,
    type: p.type,
    userId: p.user_id,
    appId: p.app_id,
  };
  const w = new Writer(256);
  encodeBasicProperties(w, props);
  return Buffer.from(w.take());
}
