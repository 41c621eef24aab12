import { mkdir } from 'node:fs/promises';
import lockfile from 'proper-lockfile';
import { UserError } from './errors.js';

export interface LockOptions {
  /** How often to try again before giving up (about a minute in all by default). */
  retries?: number;
}

/**
 * Run `action` while holding a lock (a lock folder at `lockPath`, next to what it guards in `dir`). Other
 * vmlab processes wait for it, up to about a minute; a lock whose holder died goes stale after a minute.
 * A lock still held after that is the user's to see: which file, and what to do, not a crash.
 */
export async function withLock<R>(dir: string, lockPath: string, action: () => Promise<R>, options: LockOptions = {}): Promise<R> {
  await mkdir(dir, { recursive: true });
  const release = await lockfile
    .lock(dir, {
      lockfilePath: lockPath,
      retries: { retries: options.retries ?? 200, minTimeout: 10, maxTimeout: 250 },
      stale: 60_000,
    })
    .catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ELOCKED') throw error;
      throw new UserError(
        `another vmlab process holds ${lockPath} and did not let go in a minute`,
        `let it finish (ps -ef | grep vmlab shows it), then retry; a holder that died leaves a lock that goes stale by itself within a minute`,
      );
    });
  try {
    return await action();
  } finally {
    await release();
  }
}
