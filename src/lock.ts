import { mkdir } from 'node:fs/promises';
import lockfile from 'proper-lockfile';

/**
 * Run `action` while holding a lock (a lock folder at `lockPath`, next to what it guards in `dir`). Other
 * vmlab processes wait for it, up to about a minute; a lock whose holder died goes stale after a minute.
 */
export async function withLock<R>(dir: string, lockPath: string, action: () => Promise<R>): Promise<R> {
  await mkdir(dir, { recursive: true });
  const release = await lockfile.lock(dir, {
    lockfilePath: lockPath,
    retries: { retries: 200, minTimeout: 10, maxTimeout: 250 },
    stale: 60_000,
  });
  try {
    return await action();
  } finally {
    await release();
  }
}
