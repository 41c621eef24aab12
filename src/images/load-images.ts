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

export async function loadImageDefinition(projectRoot: string, name: string): Promise<DefinedImage | undefined> {
  const file = path.join(projectRoot, 'images', `${name}.yaml`);
  const exists = await access(file).then(
    () => true,
    () => false,
  );
  if (!exists) return undefined;
  const { data, text } = await loadYamlFile(file, imageDefinitionSchema, path.relative(projectRoot, file));
  return { name, file, definition: data, text };
}

export async function definedImageNames(projectRoot: string): Promise<string[]> {
  const files = await readdir(path.join(projectRoot, 'images')).catch(() => [] as string[]);
  return files.filter((file) => file.endsWith('.yaml')).map((file) => file.slice(0, -'.yaml'.length)).sort();
}
