// RabbitMQ's words for a request body without keys it needs (the management API, policies,
// parameters, limits): the Erlang list of {key_missing,K} printed with ~p, which puts one element
// a line once the list is past 78 characters (3.10.8: `[{key_missing,write},{key_missing,read}]`).

/** The text for the keys of keys (in the order given) that body lacks, or null when it has them all. */
export function missingKeysText(body: unknown, keys: readonly string[]): string | null {
  const has = (k: string): boolean => typeof body === 'object' && body !== null && Object.hasOwn(body, k);
  const missing = keys.filter((k) => !has(k)).map((k) => `{key_missing,${k}}`);
  if (missing.length === 0) return null;
  const flat = `[${missing.join(',')}]`;
  return flat.length <= 78 ? flat : `[${missing.join(',\n ')}]`;
}
