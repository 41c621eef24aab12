import { UserError } from '../errors.js';
import type { ImageRecord } from './registry-schema.js';

/*
 * An image that failed `make images-verify` is marked damaged in the registry (registry-schema.ts): `make
 * images` shows it, create and build refuse it, until a rebuild or a verify that passes clears the mark.
 */

/** What to type to get a sound image back: a rebuild where vmlab has its recipe, else a new import; or remove it. */
export function damagedFix(record: Pick<ImageRecord, 'name' | 'kind'>, hasRecipe: boolean): string {
  const remove = `make image-rm IMAGE=${record.name}`;
  if (hasRecipe) return `Rebuild it: make build IMAGE=${record.name} FORCE=1, or remove it: ${remove}`;
  return `Import or export it again (make image-import FILE=<box> TARGET=${record.name} FORCE=1), or remove it: ${remove}`;
}

export function damagedError(record: ImageRecord, hasRecipe: boolean, usedBy?: string): UserError {
  const found = record.damaged?.problems.join('; ') ?? 'problems';
  return new UserError(
    `image ${record.name}${usedBy ? ` (${usedBy})` : ''} is damaged: make images-verify found ${found} (${record.damaged?.at ?? 'earlier'})`,
    `${damagedFix(record, hasRecipe)}; make images-verify checks it again`,
  );
}
