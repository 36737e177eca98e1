// How RabbitMQ's events print values that are Erlang terms in the broker, for the event exchange.

/**
 * An IP address as an Erlang tuple: {127,0,0,1}, or eight 16-bit words for IPv6 (an IPv4 client
 * of a dual-stack listener is ::ffff:a.b.c.d, {0,0,0,0,0,65535,…}, as 3.10.8 shows it).
 */
export function erlangAddress(address: string | undefined): string {
  if (!address) return '';
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (v4) return `{${v4.slice(1).join(',')}}`;
  let a = address;
  const tail: number[] = [];
  const mapped = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (mapped) {
    const [, head, b1, b2, b3, b4] = mapped.map(String) as [string, string, string, string, string, string];
    a = `${head}0:0`;
    tail.push(Number(b1) * 256 + Number(b2), Number(b3) * 256 + Number(b4));
  }
  const [left = '', right = ''] = a.includes('::') ? a.split('::') : [a, ''];
  const words = (s: string): number[] => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const l = words(left);
  const r = words(right);
  let all = a.includes('::') ? [...l, ...Array<number>(8 - l.length - r.length).fill(0), ...r] : l;
  if (tail.length > 0) all = [...all.slice(0, 6), ...tail];
  return `{${all.join(',')}}`;
}
