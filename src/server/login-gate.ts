// Slows password guessing without ever locking out the right password. The first refused login
// of an address is answered at once, as RabbitMQ answers every one (so a typo is reported at
// once, not after a delay a client with a short timeout takes for a dead broker); any other refused login
// within FAILURE_DELAY_MS of it is answered only after FAILURE_DELAY_MS, and holds one of
// MAX_PENDING slots of its peer address meanwhile; a login that finds every slot of its address
// held is checked once one frees. So one address learns at most 1 + MAX_PENDING verdicts per
// FAILURE_DELAY_MS (9 guesses a second), however many connections it opens, while a correct
// login from a quiet address (or after a storm of failures) is answered at once. Nothing is
// remembered past the delay: a misconfigured client cannot deny service to the other
// applications behind the same address.

/** How long a refused login waits for its answer. */
export const FAILURE_DELAY_MS = 1000;
/** Refused logins of one address waiting for their answer at once. */
export const MAX_PENDING = 8;

interface AddressState {
  /** Refused logins waiting out their delay. */
  held: number;
  /** Logins that arrived while every slot was held, in arrival order. */
  queue: Array<() => void>;
}

export class LoginGate {
  private readonly byAddress = new Map<string, AddressState>();
  /** Addresses whose refusal was answered at once within the last delay. */
  private readonly answeredAtOnce = new Set<string>();

  constructor(
    private readonly delayMs = FAILURE_DELAY_MS,
    private readonly maxPending = MAX_PENDING,
  ) {}

  /** Runs check now if the address has a free slot, else as soon as one frees. */
  enter(address: string, check: () => void): void {
    const s = this.byAddress.get(address);
    if (!s || (s.held < this.maxPending && s.queue.length === 0)) {
      check();
      return;
    }
    s.queue.push(check);
  }

  /**
   * The login was refused: answered now if it is the address's first refusal within the delay,
   * else after the delay, holding a slot of its address until then.
   */
  refuse(address: string, answer: () => void): void {
    if (!this.answeredAtOnce.has(address)) {
      this.answeredAtOnce.add(address);
      setTimeout(() => this.answeredAtOnce.delete(address), this.delayMs).unref();
      answer();
      return;
    }
    let s = this.byAddress.get(address);
    if (!s) this.byAddress.set(address, (s = { held: 0, queue: [] }));
    s.held++;
    const t = setTimeout(() => {
      s.held--;
      answer();
      this.next(address, s);
    }, this.delayMs);
    // A broker shutting down does not wait for these: its sockets are closed anyway.
    t.unref();
  }

  /** Checks queued logins while slots are free; each refused one takes a slot again. */
  private next(address: string, s: AddressState): void {
    while (s.held < this.maxPending && s.queue.length > 0) s.queue.shift()!();
    if (s.held === 0 && s.queue.length === 0) this.byAddress.delete(address);
  }
}
