import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Write a file so that readers see either the old or the new content, never a half-written one:
 * write a temporary file in the same folder, flush it, then rename it over the target.
 */
export async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await open(temporary, 'w', mode);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
