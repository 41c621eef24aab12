import type { Context } from '../context.js';

/** What the worker gives the build of one image. */
export interface BuildOneOptions {
  /** Rebuild even when the image is up to date (set on the last image of a FORCE=1 build only). */
  force: boolean;
  /** The build's current step and how far along it is (0-100); shown by make queue and make build. */
  onStep: (step: string, percent: number) => void;
  /** One line of the build's output, into the job's log. */
  log: (line: string) => void;
  /** Aborted when the job is cancelled or the worker is told to stop: stop the build and clean up. */
  signal: AbortSignal;
}

/**
 * Builds one image whose parent is already built (the queue runs parents first). Resolves when the
 * image is built or found up to date ({ action: 'up to date' }, or 'cached' for a box taken from the box
 * cache, keeps the job out of the ETA history);
 * rejects with the reason otherwise. Its context's ui also writes into the job's log.
 */
export type BuildOne = (context: Context, image: string, options: BuildOneOptions) => Promise<{ action?: 'built' | 'up to date' | 'cached' } | void>;
