// What the operating system says about this process and its data directory's disk: open file
// descriptors and their limit (Linux's /proc; unknown elsewhere), free disk space (statfs).
import process from 'node:process';
import { readdirSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';

/** File descriptors this process has open, or undefined where /proc is not there. */
export function openFds(): number | undefined {
  try {
    // The listing's own descriptor is in it.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

/** The soft limit on open files (RLIMIT_NOFILE), or undefined when unknown or unlimited. */
export function maxFds(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    const n = Number(soft);
    return soft !== undefined && Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes free for an unprivileged user on the filesystem of dir, or undefined when unreadable. */
export async function diskFree(dir: string): Promise<number | undefined> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** When this process started, seconds since the epoch. */
export const processStartSeconds = (): number => Math.round(Date.now() / 1000 - process.uptime());
