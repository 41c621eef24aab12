import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import { loadYamlFile } from '../yaml-file.js';
import { imageDefinitionSchema, type ImageDefinition } from './image-schema.js';

export interface DefinedImage {
  name: string;
  file: string;
  definition: ImageDefinition;
  /** The file's text, part of the image's input digest. */
  text: string;
}

/**
 * The folders image definitions are read from, in order: the project's images/, then VMLAB_IMAGES_DIR
 * (a user's own definitions kept outside the repository). The first folder holding <name>.yaml wins.
 */
export function imageDirs(projectRoot: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [path.join(projectRoot, 'images')];
  if (env.VMLAB_IMAGES_DIR) dirs.push(path.resolve(env.VMLAB_IMAGES_DIR));
  return dirs;
}

export async function loadImageDefinition(projectRoot: string, name: string, env: NodeJS.ProcessEnv = process.env): Promise<DefinedImage | undefined> {
  for (const dir of imageDirs(projectRoot, env)) {
    const file = path.join(dir, `${name}.yaml`);
    const exists = await access(file).then(
      () => true,
      () => false,
    );
    if (!exists) continue;
    const relative = path.relative(projectRoot, file);
    const display = relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
    const { data, text } = await loadYamlFile(file, imageDefinitionSchema, display);
    return { name, file, definition: data, text };
  }
  return undefined;
}

export async function definedImageNames(projectRoot: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const names = new Set<string>();
  for (const dir of imageDirs(projectRoot, env)) {
    const files = await readdir(dir).catch(() => [] as string[]);
    for (const file of files) if (file.endsWith('.yaml')) names.add(file.slice(0, -'.yaml'.length));
  }
  return [...names].sort();
}
