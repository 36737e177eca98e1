// Rate-limits authentication failures per peer address, so that guessing passwords over many
// connections is slow: past a few failures in a window, that address is refused without a check.

const WINDOW_MS = 10_000;
const MAX_FAILURES = 5;

export class AuthThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  /** True while the address has failed too often recently. */
  blocked(address: string): boolean {
    const f = this.failures.get(address);
    if (!f) return false;
    if (Date.now() - f.since > WINDOW_MS) {
      this.failures.delete(address);
      return false;
    }
    return f.count >= MAX_FAILURES;
  }

  failed(address: string): void {
    const now = Date.now();
    const f = this.failures.get(address);
    if (!f || now - f.since > WINDOW_MS) this.failures.set(address, { count: 1, since: now });
    else f.count++;
    if (this.failures.size > 10_000) this.prune(now);
  }

  private prune(now: number): void {
    for (const [a, f] of this.failures) if (now - f.since > WINDOW_MS) this.failures.delete(a);
  }
}
