// AMQP URIs as a shovel reads them (RabbitMQ's amqp_uri): defaults, percent-decoding, the
// shovel's own vhost when the URI names none, and the refusals 3.10.8 words as Erlang terms.
import { describe, expect, it } from 'vitest';
import { parseAmqpUri, UriError, withoutCredentials } from '../../src/client/uri.js';

describe('parseAmqpUri', () => {
  it('amqp:// with no host is this broker, the vhost left to the shovel', () => {
    expect(parseAmqpUri('amqp://')).toMatchObject({ direct: true, vhost: null, tls: false });
    expect(parseAmqpUri('amqp:///other')).toMatchObject({ direct: true, vhost: 'other' });
  });
  it('reads credentials, host, port and vhost, percent-decoded', () => {
    expect(parseAmqpUri('amqp://us%40er:p%3Ass@rabbit.example:5673/%2f')).toMatchObject({ direct: false, user: 'us@er', pass: 'p:ss', host: 'rabbit.example', port: 5673, vhost: '/' });
    expect(parseAmqpUri('amqp://h/')).toMatchObject({ vhost: '', user: 'guest', pass: 'guest', port: 5672 });
    expect(parseAmqpUri('amqps://[::1]/v?heartbeat=5&cacertfile=/ca.pem&verify=verify_peer')).toMatchObject({ tls: true, host: '::1', port: 5671, vhost: 'v', heartbeat: 5, verify: true, tlsFiles: { ca: '/ca.pem' } });
  });
  it('refuses other schemes and malformed URIs', () => {
    expect(() => parseAmqpUri('http://x')).toThrow(new UriError('{{unexpected_uri_scheme,"http"},"http://x"}'));
    expect(() => parseAmqpUri('amqp://h:notaport')).toThrow(UriError);
    expect(() => parseAmqpUri('amqp://h/a/b')).toThrow(UriError);
    expect(() => parseAmqpUri('nothing')).toThrow(UriError);
  });
  it('shows a URI without its credentials, as RabbitMQ does', () => {
    expect(withoutCredentials('amqp://guest:guest@localhost:5812')).toBe('amqp://localhost:5812');
    expect(withoutCredentials('amqps://u@h/v?x=1')).toBe('amqps://h/v?x=1');
    expect(withoutCredentials('amqp://')).toBe('amqp://');
  });
});
