import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { withLock } from '../../src/lock.js';

describe('withLock', () => {
  let dir = '';
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('a lock another process keeps is a user error naming the lock file, and the action never runs', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmlab-lock-'));
    const lockPath = path.join(dir, '.held.lock');
    const release = await lockfile.lock(dir, { lockfilePath: lockPath, stale: 60_000 });
    let ran = false;
    const attempt = withLock(dir, lockPath, async () => { ran = true; }, { retries: 1 });
    await expect(attempt).rejects.toThrow(UserError);
    await expect(attempt).rejects.toThrow(`another vmlab process holds ${lockPath}`);
    expect(ran).toBe(false);
    await release();
  });

  it('runs the action once the lock is free, and frees it again', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmlab-lock-'));
    const lockPath = path.join(dir, '.free.lock');
    expect(await withLock(dir, lockPath, async () => 42)).toBe(42);
    expect(await lockfile.check(dir, { lockfilePath: lockPath })).toBe(false);
  });
});
