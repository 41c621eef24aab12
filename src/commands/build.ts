import type { Context } from '../context.js';
import { DryRunStop } from '../images/build-base-image.js';
import { buildNeeds, ensureOne } from '../images/ensure-image.js';
import { checkImageName } from '../names.js';
import type { BuildOne } from '../queue/build-one.js';
import { buildThroughQueue } from '../queue/build-through-queue.js';

/** What the queue's worker runs for each job: one image whose parent is built. */
export const buildOne: BuildOne = (context, image, { force, onStep }) => ensureOne(context, image, { force, onStep });

/**
 * Build an image and whatever of its chain is not current, through the build queue (progress, ETA,
 * a log per job); an image whose chain is all current is "up to date" without touching the queue.
 */
/** 'up to date' when nothing had to be built; 'queued' when the chain went through the queue (built, or BG=1). */
export async function buildImage(context: Context, image: string, options: { force: boolean; background: boolean }): Promise<'up to date' | 'queued'> {
  checkImageName(image);
  const started = Date.now();
  const { chain, outdated } = await buildNeeds(context, image, options.force);
  if (outdated.length === 0) {
    context.ui.info(`image ${image} is up to date (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return 'up to date';
  }
  try {
    await buildThroughQueue(context, chain, { force: options.force, background: options.background, buildOne });
  } catch (error) {
    if (!(error instanceof DryRunStop)) throw error;
  }
  return 'queued';
}
