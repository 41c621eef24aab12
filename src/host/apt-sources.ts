import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The host's apt sources, read so that images are built from the same mirror the host uses
 * (the only package source a lab machine may be able to reach). Both formats: one-line `.list`
 * and deb822 `.sources`.
 */
export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
}

export function parseOneLineSources(text: string): AptSource[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => /^deb(-src)?\s/.test(line))
    .map((line) => line.replace(/\[[^\]]*\]/, ' ').trim().split(/\s+/))
    .map(([type = '', uri = '', suite = '', ...components]) => ({ types: [type], uris: [uri], suites: [suite], components }));
}

export function parseDeb822Sources(text: string): AptSource[] {
  return text
    .split(/\n\s*\n/)
    .map((stanza) => {
      const fields = new Map<string, string>();
      for (const line of stanza.split('\n')) {
        const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (match?.[1] && !line.startsWith('#')) fields.set(match[1].toLowerCase(), match[2] ?? '');
      }
      if (fields.get('enabled')?.toLowerCase() === 'no') return undefined;
      const words = (key: string) => (fields.get(key) ?? '').split(/\s+/).filter(Boolean);
      return { types: words('types'), uris: words('uris'), suites: words('suites'), components: words('components') };
    })
    .filter((source): source is AptSource => Boolean(source && source.uris.length));
}

/** The first binary source that carries exactly this suite (bookworm, not bookworm-updates). */
export function mirrorForSuite(sources: AptSource[], suite: string): string | undefined {
  const match = sources.find((source) => source.types.includes('deb') && source.suites.includes(suite));
  return match?.uris[0]?.replace(/\/+$/, '');
}

export async function readHostAptSources(root = '/etc/apt'): Promise<AptSource[]> {
  const sources: AptSource[] = [];
  const read = (file: string) => readFile(file, 'utf8').catch(() => '');
  sources.push(...parseOneLineSources(await read(path.join(root, 'sources.list'))));
  const dir = path.join(root, 'sources.list.d');
  for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (name.endsWith('.list')) sources.push(...parseOneLineSources(await read(path.join(dir, name))));
    if (name.endsWith('.sources')) sources.push(...parseDeb822Sources(await read(path.join(dir, name))));
  }
  return sources;
}
