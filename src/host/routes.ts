/** IPv4 CIDR arithmetic for the management-network clash check. */
export function parseCidr(cidr: string): { base: number; bits: number } | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(cidr.trim());
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((octet) => octet > 255)) return undefined;
  const bits = match[5] === undefined ? 32 : Number(match[5]);
  if (bits > 32) return undefined;
  const address = octets.reduce((sum, octet) => sum * 256 + octet, 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (address & mask) >>> 0, bits };
}

export function overlaps(a: string, b: string): boolean {
  const left = parseCidr(a);
  const right = parseCidr(b);
  if (!left || !right) return false;
  const bits = Math.min(left.bits, right.bits);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((left.base & mask) >>> 0) === ((right.base & mask) >>> 0);
}

/** `ip -4 route show`: destination and device of each route (the default route is skipped). */
export function parseRoutes(stdout: string): { destination: string; device: string }[] {
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([destination]) => destination && destination !== 'default')
    .map((words) => ({ destination: words[0] ?? '', device: words[words.indexOf('dev') + 1] ?? '' }));
}

export function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 255).join('.');
}

export function ipv4ToNumber(address: string): number | undefined {
  return parseCidr(`${address}/32`)?.base;
}

export function netmask(bits: number): string {
  return formatIpv4(bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
}

/** The first and last address of a subnet: its network and broadcast addresses. */
export function subnetBounds(cidr: string): { first: number; last: number } | undefined {
  const parsed = parseCidr(cidr);
  if (!parsed) return undefined;
  return { first: parsed.base, last: (parsed.base + 2 ** (32 - parsed.bits) - 1) >>> 0 };
}
