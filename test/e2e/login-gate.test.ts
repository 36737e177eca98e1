// Wrong passwords are slowed down, never answered by locking the address out: one misconfigured
// client (or a guesser) on 127.0.0.1 must not stop a correct login from the same address.
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { FAILURE_DELAY_MS, MAX_PENDING } from '../../src/server/login-gate.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({});
});
afterAll(async () => {
  await broker.close();
});

const url = (pass: string): string => `amqp://guest:${pass}@127.0.0.1:${broker.port}`;

/** Resolves with the reply code of a refused login (amqplib's error carries it in the text). */
async function refusedLogin(pass: string): Promise<string> {
  try {
    const c = await amqp.connect(url(pass));
    await c.close();
    return 'accepted';
  } catch (e) {
    return /403|ACCESS_REFUSED/.test(String(e)) ? '403' : String(e);
  }
}

async function timedCorrectLogin(): Promise<number> {
  const t0 = performance.now();
  const c = await amqp.connect(url('guest'));
  const ms = performance.now() - t0;
  await c.close();
  return ms;
}

describe('wrong passwords', () => {
  it('a quiet address\'s first wrong password is refused at once, as RabbitMQ refuses it; the next within the delay waits it out', async () => {
    await new Promise((r) => setTimeout(r, FAILURE_DELAY_MS + 100)); // the address quiet
    let t0 = performance.now();
    expect(await refusedLogin('typo')).toBe('403');
    expect(performance.now() - t0).toBeLessThan(FAILURE_DELAY_MS / 2);
    t0 = performance.now();
    expect(await refusedLogin('typo-again')).toBe('403');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(FAILURE_DELAY_MS - 50);
  });

  it('after dozens of refused logins from 127.0.0.1, a correct one from it is answered at once', async () => {
    for (let round = 0; round < 3; round++) {
      const outcomes = await Promise.all(Array.from({ length: MAX_PENDING }, (_, i) => refusedLogin(`wrong-${round}-${i}`)));
      expect(outcomes).toEqual(Array(MAX_PENDING).fill('403'));
    }
    // 24 refused logins in a few seconds: the old throttle refused everything after 5.
    const ms = await timedCorrectLogin();
    expect(ms).toBeLessThan(FAILURE_DELAY_MS / 2);
  });

  it('while a sequential wrong-password client keeps trying, correct logins are answered at once', async () => {
    let stop = false;
    const misconfigured = (async () => {
      let n = 0;
      while (!stop) {
        expect(await refusedLogin('stale-password')).toBe('403');
        n++;
      }
      return n;
    })();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 300));
      times.push(await timedCorrectLogin());
    }
    stop = true;
    expect(await misconfigured).toBeGreaterThan(0);
    for (const t of times) expect(t).toBeLessThan(FAILURE_DELAY_MS / 2);
  });

  it('guessing from one address is bounded, however many connections it opens at once', async () => {
    const guesses = 5 * MAX_PENDING;
    const t0 = performance.now();
    const outcomes = await Promise.all(Array.from({ length: guesses }, (_, i) => refusedLogin(`guess-${i}`)));
    const seconds = (performance.now() - t0) / 1000;
    expect(outcomes.every((o) => o === '403')).toBe(true);
    const perSecond = guesses / seconds;
    console.log(`${guesses} parallel wrong logins from one address: ${seconds.toFixed(2)} s, ${perSecond.toFixed(1)} guesses/s`);
    // At most 1 + MAX_PENDING verdicts per FAILURE_DELAY_MS: the first at once, MAX_PENDING after
    // each delay. So the last of them comes no sooner than this.
    expect(seconds * 1000).toBeGreaterThanOrEqual(Math.floor((guesses - 1) / MAX_PENDING) * FAILURE_DELAY_MS - 50);
  });
});
