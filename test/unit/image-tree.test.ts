import { describe, expect, it } from 'vitest';
import { imageTree, renderImageTree } from '../../src/images/image-tree.js';
import type { ImageRecord, RegistryIndex } from '../../src/images/registry-schema.js';

const MiB = 2 ** 20;
const record = (name: string, kind: ImageRecord['kind'], parent: string | null, sizeMiB: number): ImageRecord => ({
  name, kind, role: kind === 'role' ? name : null, source: 'test', parent, created: '2026-11-20T10:00:00.000Z', sizeBytes: sizeMiB * MiB,
  virtualSizeBytes: 8 * 2 ** 30, sha256: '0'.repeat(64), inputDigest: 'x', features: [], file: `${name}.box`, box: `vmlab/${name}`, boxVersion: '0.1', retiredVersions: [],
});
const index = (...records: ImageRecord[]): RegistryIndex => ({ version: 1, images: Object.fromEntries(records.map((entry) => [entry.name, entry])) });

describe('make images TREE=1', () => {
  const registry = index(
    record('web-golden', 'custom', 'docker', 310),
    record('observer', 'role', 'debian-12', 365),
    record('debian-12', 'base', null, 130),
    record('docker', 'role', 'debian-12', 272),
    record('imported', 'custom', 'somewhere-else', 400),
  );

  it('draws base -> role -> custom with sizes and the machines on each image', () => {
    const roots = imageTree(registry, [{ name: 'web', image: 'docker' }, { name: 'api', image: 'docker' }, { name: 'gold', image: 'web-golden' }]);
    expect(renderImageTree(roots)).toBe(
      [
        'debian-12  base  130 MiB',
        '├─ docker  role  272 MiB  machines: api, web',
        '│  └─ web-golden  custom  310 MiB  machines: gold',
        '└─ observer  role  365 MiB',
        'imported  custom  400 MiB',
      ].join('\n'),
    );
  });

  it('gives the nested records for JSON: name, kind, sizeBytes, machines, children', () => {
    const [debian, imported] = imageTree(registry, [{ name: 'web', image: 'docker' }]);
    expect(debian).toEqual({
      name: 'debian-12', kind: 'base', sizeBytes: 130 * MiB, machines: [],
      children: [
        { name: 'docker', kind: 'role', sizeBytes: 272 * MiB, machines: ['web'], children: [{ name: 'web-golden', kind: 'custom', sizeBytes: 310 * MiB, machines: [], children: [] }] },
        { name: 'observer', kind: 'role', sizeBytes: 365 * MiB, machines: [], children: [] },
      ],
    });
    expect(imported).toMatchObject({ name: 'imported', children: [] });
  });

  it('an image on a parent cycle (a hand-edited index) still appears, once', () => {
    const roots = imageTree(index(record('a', 'custom', 'b', 1), record('b', 'custom', 'a', 1)), []);
    expect(renderImageTree(roots)).toBe(['a  custom  1 MiB', '└─ b  custom  1 MiB'].join('\n'));
  });

  it('an empty registry is an empty forest', () => {
    expect(imageTree(index(), [])).toEqual([]);
  });
});
