import path from 'node:path';
import { z } from 'zod';
import { median } from '../queue/eta.js';
import { JsonStateFile } from '../state-file.js';

/**
 * How long each step took on this host (VMLAB_HOME/step-times.json): the last few durations of each
 * step ("up boot", "up provision feature-docker"), from which the live line's ETA is learned.
 */
const KEPT = 5;
const schema = z.object({ version: z.literal(1), steps: z.record(z.array(z.number().nonnegative())) });
export type StepTimes = z.infer<typeof schema>;

export function stepTimesFile(home: string): JsonStateFile<StepTimes> {
  return new JsonStateFile(path.join(home, 'step-times.json'), schema, () => ({ version: 1 as const, steps: {} }), 'the step durations file');
}

/** The typical duration of a step: the median of its last runs, or undefined when it never ran here. */
export function typicalDuration(times: StepTimes, key: string): number | undefined {
  return median(times.steps[key] ?? []) ?? undefined;
}

/** Remember one more run of a step (the oldest beyond the last few is dropped). */
export function recordDuration(times: StepTimes, key: string, seconds: number): void {
  times.steps[key] = [...(times.steps[key] ?? []), Math.round(seconds * 10) / 10].slice(-KEPT);
}

/**
 * What the live line says about the time left: "about 20 s left" while within the typical duration,
 * "longer than the usual 31 s" once past it, nothing when the step never ran here.
 */
export function etaText(elapsed: number, typical: number | undefined): string {
  if (typical === undefined) return '';
  const left = Math.round(typical - elapsed);
  return left > 0 ? `about ${formatSeconds(left)} left` : `longer than the usual ${formatSeconds(typical)}`;
}

export function formatSeconds(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  return `${minutes} min ${String(whole % 60).padStart(2, '0')} s`;
}
