// Checks the data directory before LevelDB opens it. LevelDB's own failure for a directory the
// broker's user cannot write (typically a bind-mounted host directory owned by root, with the
// image running as uid 1000) is "IO error: …/LOCK: Permission denied", which does not say what to
// do; this says which directory, which user, and the chown that fixes it.
import process from 'node:process';
import { constants } from 'node:fs';
import { access, mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';

export class DataDirError extends Error {
  readonly code = 'WARREN_DATA_DIR';
}

function who(): { uid: number | undefined; gid: number | undefined; label: string } {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  return { uid, gid, label: uid === undefined ? 'this process' : `uid ${uid}` };
}

function explain(dir: string, e: NodeJS.ErrnoException, what: string): DataDirError {
  const { uid, gid, label } = who();
  switch (e.code) {
    case 'EACCES':
    case 'EPERM': {
      const fix = uid === undefined ? 'give this user write access to it' : `chown -R ${uid}:${gid} ${dir} (for a bind mount: the host directory mounted there)`;
      return new DataDirError(`data directory ${dir} is not writable by ${label} (${what}: ${e.code}): ${fix}, or choose another --data-dir`);
    }
    case 'EROFS':
      return new DataDirError(`data directory ${dir} is on a read-only file system: mount it read-write, or choose another --data-dir`);
    case 'ENOTDIR':
    case 'EEXIST':
      return new DataDirError(`data directory ${dir} cannot be created: part of its path is a file, not a directory; choose another --data-dir`);
    default:
      return new DataDirError(`data directory ${dir} is not usable (${what}: ${e.code ?? e.message})`);
  }
}

/** Creates dir if needed and proves the broker can write in it (and to LevelDB's files in it). */
export async function ensureWritableDataDir(dir: string): Promise<void> {
  const abs = path.resolve(dir);
  let step = 'create it';
  try {
    await mkdir(abs, { recursive: true });
    step = 'create a file in it';
    const probe = path.join(abs, `.warren-write-test-${process.pid}`);
    await (await open(probe, 'wx')).close();
    await unlink(probe);
    // Left by an earlier run as another user (root, say): the directory is writable, these are not.
    for (const f of ['LOCK', 'CURRENT', 'LOG']) {
      step = `write ${f}`;
      await access(path.join(abs, f), constants.W_OK).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }
  } catch (e) {
    throw explain(abs, e as NodeJS.ErrnoException, step);
  }
}
