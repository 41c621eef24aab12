import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { REPO } from './fakes.js';

/**
 * The CLI tests run the built CLI; `make test` builds it first.
 *
 * The real-VM ring gets a box cache of its own for the run (VMLAB_RING3_CACHE, read by RealLab): a box
 * version follows from the cached build, so with the host's cache a test image could share its Vagrant box
 * and pool volume with a user's checkout, and a test's image-rm would rightly leave them in place.
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (!existsSync(path.join(REPO, 'dist/.built'))) {
    throw new Error('the CLI is not built: run the tests with `make test` (it builds first)');
  }
  const cache = await mkdtemp('/var/tmp/vmlab-ring3-cache-');
  process.env.VMLAB_RING3_CACHE = cache;
  return async () => rm(cache, { recursive: true, force: true });
}
