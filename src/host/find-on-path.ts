import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';

/** Find a program on PATH without running it (vagrant takes a second just to print its version). */
export async function findOnPath(program: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, program);
    const found = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (found) return candidate;
  }
  return undefined;
}
