import type { ResolvedMachine } from './resolve-machines.js';

/**
 * The lab as a graphviz DOT graph (pure): each machine in the box of its first group, linked to the
 * private network it has an address on and to the image it boots from; the images with their lineage
 * (base -> role -> custom). Every machine is also on vmlab's management network (DHCP).
 */
export interface GraphImage {
  name: string;
  kind: string;
  parent: string | null;
}

export interface GraphOptions {
  lab: string;
  management: { name: string; address: string };
  /** The registry's images (for the lineage); images the machines name but the registry lacks are drawn too. */
  images: GraphImage[];
}

/** A DOT string: backslashes and quotes escaped, line breaks as DOT's \n. */
const quote = (text: string) => `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`;
const id = (kind: string, name: string) => quote(`${kind}:${name}`);

export function labGraph(machines: ResolvedMachine[], options: GraphOptions): string {
  const lines = [
    `digraph ${quote(`vmlab lab ${options.lab}`)} {`,
    '  rankdir=LR;',
    '  graph [fontname="Helvetica", fontsize=11, label=' + quote(`lab ${options.lab}`) + ', labelloc=t];',
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  const machineNode = (machine: ResolvedMachine, indent: string) =>
    `${indent}${id('machine', machine.name)} [shape=box, style="rounded", label=${quote(`${machine.name}\nrole ${machine.role}\n${machine.cpus} cpu · ${machine.memory} MiB${machine.address ? `\n${machine.address.address}` : ''}`)}];`;
  const groups = new Map<string, ResolvedMachine[]>();
  for (const machine of machines) {
    const group = machine.groups[0];
    if (group) groups.set(group, [...(groups.get(group) ?? []), machine]);
    else lines.push(machineNode(machine, '  '));
  }
  for (const [group, members] of groups) {
    lines.push(`  subgraph ${quote(`cluster_group_${group}`)} {`, `    label=${quote(`group ${group}`)};`, '    style="dashed";');
    for (const machine of members) lines.push(machineNode(machine, '    '));
    lines.push('  }');
  }

  lines.push(`  ${id('network', options.management.name)} [shape=ellipse, label=${quote(`${options.management.name}\n${options.management.address} (DHCP)`)}];`);
  const networks = new Map(machines.flatMap((machine) => (machine.address ? [[machine.address.network.libvirtName, machine.address.network] as const] : [])));
  for (const network of networks.values()) lines.push(`  ${id('network', network.libvirtName)} [shape=ellipse, label=${quote(`network ${network.key}\n${network.subnet}`)}];`);
  for (const machine of machines) {
    lines.push(`  ${id('machine', machine.name)} -> ${id('network', options.management.name)} [dir=none, color="gray60"];`);
    if (machine.address) lines.push(`  ${id('machine', machine.name)} -> ${id('network', machine.address.network.libvirtName)} [dir=none, label=${quote(machine.address.address)}];`);
  }

  // The images the machines stand on, and their ancestors.
  const known = new Map(options.images.map((image) => [image.name, image]));
  const drawn = new Set<string>();
  const drawImage = (name: string) => {
    if (drawn.has(name)) return;
    drawn.add(name);
    const image = known.get(name);
    lines.push(`  ${id('image', name)} [shape=cylinder, label=${quote(`${name}\n${image?.kind ?? 'not built'}`)}${image && image.kind !== 'not built' ? '' : ', style="dashed"'}];`);
    if (image?.parent) {
      drawImage(image.parent);
      lines.push(`  ${id('image', image.parent)} -> ${id('image', name)} [label="parent of"];`);
    }
  };
  for (const machine of machines) {
    drawImage(machine.image);
    lines.push(`  ${id('machine', machine.name)} -> ${id('image', machine.image)} [style=dashed, label="boots"];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
