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
 * A developer running one suite at a time may name a cache of their own in VMLAB_RING3_CACHE (never the
 * host's own cache): it is used as it is and kept, so the base image is built once for several runs.
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (!existsSync(path.join(REPO, 'dist/.built'))) {
    throw new Error('the CLI is not built: run the tests with `make test` (it builds first)');
  }
  if (process.env.VMLAB_RING3_CACHE) return async () => {};
  const cache = await mkdtemp('/var/tmp/vmlab-ring3-cache-');
  process.env.VMLAB_RING3_CACHE = cache;
  return async () => rm(cache, { recursive: true, force: true });
}
