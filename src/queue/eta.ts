import type { Job } from './queue-schema.js';

/**
 * Seconds each successful build took; builds that found the image up to date or took its box from the cache
 * say nothing about build time.
 */
export function buildDurations(history: readonly Job[], image?: string): number[] {
  return history
    .filter((job) => job.state === 'done' && (job.result === undefined || job.result === 'built') && job.startedAt && job.finishedAt)
    .filter((job) => image === undefined || job.image === image)
    .map((job) => (Date.parse(job.finishedAt as string) - Date.parse(job.startedAt as string)) / 1000)
    .filter((seconds) => Number.isFinite(seconds) && seconds >= 0);
}

export function median(values: readonly number[]): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** How long a whole build of `image` takes: the median of its own earlier builds, else of any image's. */
export function typicalSeconds(image: string, history: readonly Job[]): number | null {
  return median(buildDurations(history, image)) ?? median(buildDurations(history));
}

function remainingOf(job: Job, history: readonly Job[]): number | null {
  const typical = typicalSeconds(job.image, history);
  if (typical === null) return null;
  return job.state === 'running' ? typical * (1 - (job.percent ?? 0) / 100) : typical;
}

/**
 * Seconds until `job` is finished, from the queue as a whole (`history`, in queue order): a running
 * job's remaining share of its typical build time; a queued job's own time plus that of every
 * unfinished job before it. null for a finished job or when no build has finished yet.
 */
export function estimateSeconds(job: Job, history: readonly Job[]): number | null {
  if (job.state === 'running') return remainingOf(job, history);
  if (job.state !== 'queued') return null;
  const position = history.findIndex((candidate) => candidate.id === job.id);
  const ahead = (position < 0 ? history : history.slice(0, position)).filter((other) => other.state === 'queued' || other.state === 'running');
  let total = 0;
  for (const other of [...ahead, job]) {
    const seconds = remainingOf(other, history);
    if (seconds === null) return null;
    total += seconds;
  }
  return total;
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '-';
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`;
}
