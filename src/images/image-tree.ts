import type { ImageRecord, RegistryIndex } from './registry-schema.js';

/** One image in the lineage tree: base -> role -> custom. */
export interface ImageTreeNode {
  name: string;
  kind: ImageRecord['kind'];
  sizeBytes: number;
  /** The lab's machines that boot this image. */
  machines: string[];
  children: ImageTreeNode[];
}

/**
 * The registry as a forest: an image whose parent is not in the registry (or that has none) is a root.
 * An image on a parent cycle (a hand-edited index) becomes a root too, so every image appears once.
 */
export function imageTree(index: RegistryIndex, machines: { name: string; image: string }[]): ImageTreeNode[] {
  const records = Object.values(index.images).sort((a, b) => a.name.localeCompare(b.name));
  const placed = new Set<string>();
  const node = (record: ImageRecord): ImageTreeNode => {
    placed.add(record.name);
    return {
      name: record.name,
      kind: record.kind,
      sizeBytes: record.sizeBytes,
      machines: machines.filter((machine) => machine.image === record.name).map((machine) => machine.name).sort(),
      children: records.filter((child) => child.parent === record.name && !placed.has(child.name)).map(node),
    };
  };
  const roots: ImageTreeNode[] = [];
  for (const record of records) {
    if (!placed.has(record.name) && (!record.parent || !index.images[record.parent] || record.parent === record.name)) roots.push(node(record));
  }
  for (const record of records) if (!placed.has(record.name)) roots.push(node(record));
  return roots;
}

function label(node: ImageTreeNode): string {
  const size = `${(node.sizeBytes / 2 ** 20).toFixed(0)} MiB`;
  return [node.name, node.kind, size, ...(node.machines.length ? [`machines: ${node.machines.join(', ')}`] : [])].join('  ');
}

/** The tree as text, one image per line, drawn with ├─ └─ │. */
export function renderImageTree(roots: ImageTreeNode[]): string {
  const lines: string[] = [];
  const walk = (node: ImageTreeNode, prefix: string, childPrefix: string) => {
    lines.push(`${prefix}${label(node)}`);
    node.children.forEach((child, i) => {
      const last = i === node.children.length - 1;
      walk(child, `${childPrefix}${last ? '└─ ' : '├─ '}`, `${childPrefix}${last ? '   ' : '│  '}`);
    });
  };
  for (const root of roots) walk(root, '', '');
  return lines.join('\n');
}
