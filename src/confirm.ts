import type { Context } from './context.js';
import { UserError } from './errors.js';

/**
 * Destructive commands ask first: YES=1 (or a dry run, which changes nothing) skips the question;
 * no terminal and no YES=1 is a refusal that names the command to run instead.
 */
export async function confirmOrRefuse(context: Context, question: string, refusal: { what: string; command: string }): Promise<void> {
  if (context.yes || context.dryRun || (await context.confirm(question))) return;
  throw new UserError(`not ${refusal.what}: not confirmed`, `To go ahead without asking: ${refusal.command} YES=1`);
}
