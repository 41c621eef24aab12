import { describe, expect, it } from 'vitest';
import { labGraph } from '../../src/lab/lab-graph.js';
import type { ResolvedMachine } from '../../src/lab/resolve-machines.js';

const back = { key: 'back', libvirtName: 'vmlab-lab-back', subnet: '10.20.0.0/24', hostAddress: '10.20.0.1', netmask: '255.255.255.0' };
const machine = (name: string, extra: Partial<ResolvedMachine>): ResolvedMachine =>
  ({ name, role: 'base', image: 'debian-12', cpus: 1, memory: 1024, groups: [], ...extra }) as ResolvedMachine;

describe('the lab as a DOT graph', () => {
  const dot = labGraph(
    [
      machine('web', { role: 'docker', image: 'docker', groups: ['front'], address: { machine: 'web', address: '10.20.0.11', network: back } }),
      machine('db', { groups: ['front'], address: { machine: 'db', address: '10.20.0.12', network: back } }),
      machine('solo', { image: 'web-golden' }),
    ],
    {
      lab: 'lab',
      management: { name: 'vmlab-mgmt', address: '192.168.123.0/24' },
      images: [
        { name: 'debian-12', kind: 'base', parent: null },
        { name: 'docker', kind: 'role', parent: 'debian-12' },
      ],
    },
  );

  it('puts the machines of a group in its box, with their role and address', () => {
    expect(dot).toMatch(/subgraph "cluster_group_front" \{\n {4}label="group front";\n {4}style="dashed";\n {4}"machine:web" \[[^\n]*label="web\\nrole docker\\n1 cpu · 1024 MiB\\n10\.20\.0\.11"\];\n {4}"machine:db"/);
    expect(dot).toMatch(/^ {2}"machine:solo" \[/m);
  });

  it('links each machine to its networks, with its address on the private one', () => {
    expect(dot).toContain('"network:vmlab-lab-back" [shape=ellipse, label="network back\\n10.20.0.0/24"];');
    expect(dot).toContain('"machine:web" -> "network:vmlab-lab-back" [dir=none, label="10.20.0.11"];');
    expect(dot).toContain('"machine:solo" -> "network:vmlab-mgmt" [dir=none, color="gray60"];');
    expect(dot.match(/^ {2}"network:vmlab-lab-back" \[/gm)).toHaveLength(1);
  });

  it('draws the images the machines boot, with their lineage; an image the registry lacks is dashed', () => {
    expect(dot).toContain('"machine:web" -> "image:docker" [style=dashed, label="boots"];');
    expect(dot).toContain('"image:debian-12" -> "image:docker" [label="parent of"];');
    expect(dot).toContain('"image:web-golden" [shape=cylinder, label="web-golden\\nnot built", style="dashed"];');
    expect(dot.match(/^ {2}"image:debian-12" \[/gm)).toHaveLength(1);
  });

  it('quotes names so that nothing in them is read as DOT', () => {
    const odd = labGraph([machine('x', { role: 'a"b' })], { lab: 'l', management: { name: 'm', address: 'n' }, images: [] });
    expect(odd).toContain('role a\\"b');
  });
});
