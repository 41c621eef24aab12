import { describe, expect, it } from 'vitest';
import { parseListening } from '../../src/adapters/ss.js';
import { planCopy, scpArgs } from '../../src/lab/copy-paths.js';
import { holderOf, parsePort, portClashes, portProblem } from '../../src/lab/ports.js';

describe('forwarded port specs', () => {
  it.each([
    ['8080:80', { hostIp: '0.0.0.0', hostPort: 8080, guestPort: 80 }],
    ['127.0.0.1:5432:5432', { hostIp: '127.0.0.1', hostPort: 5432, guestPort: 5432 }],
    ['65535:1', { hostIp: '0.0.0.0', hostPort: 65535, guestPort: 1 }],
  ])('%s', (spec, port) => {
    expect(portProblem(spec)).toBeUndefined();
    expect(parsePort(spec)).toEqual({ ...port, spec });
  });

  it.each([
    ['65536:80', 'the host port 65536 is out of range (1-65535)'],
    ['0:80', 'the host port 0 is out of range'],
    ['80:99999', 'the guest port 99999 is out of range'],
    ['080:80', 'the host port 080 is out of range'],
    ['300.0.0.1:80:80', '300.0.0.1 is not an IPv4 address'],
    ['80', 'is not a forwarded port'],
    ['80:80/udp', 'is not a forwarded port'],
  ])('refuses %s', (spec, message) => {
    expect(portProblem(spec)).toContain(message);
  });

  it('finds a host port declared twice, every interface clashing with one address', () => {
    expect(portClashes({ a: { ports: ['8080:80'] }, b: { ports: ['127.0.0.1:8080:81', '127.0.0.2:9000:1', '127.0.0.1:9000:2'] } })).toEqual([
      { path: ['machines', 'b', 'ports', 0], message: 'host port 8080 is forwarded twice: here and by a ("8080:80")' },
    ]);
  });

  it('knows which listening socket takes a port', () => {
    const sockets = parseListening(
      ['LISTEN 0 511 127.0.0.1:5432 0.0.0.0:* users:(("postgres",pid=812,fd=5))', 'LISTEN 0 128 [::]:8080 [::]:*', 'LISTEN 0 32 127.0.0.53%lo:53 0.0.0.0:*'].join('\n'),
    );
    expect(sockets).toEqual([
      { address: '127.0.0.1', port: 5432, holder: 'postgres (pid 812)', pid: 812 },
      { address: '[::]', port: 8080 },
      { address: '127.0.0.53', port: 53 },
    ]);
    expect(holderOf(parsePort('5432:5432'), sockets)?.holder).toBe('postgres (pid 812)');
    expect(holderOf(parsePort('127.0.0.2:5432:5432'), sockets)).toBeUndefined();
    expect(holderOf(parsePort('127.0.0.1:8080:80'), sockets)?.address).toBe('[::]');
  });
});

describe('make cp operands', () => {
  const machines = ['web', 'db'];
  it.each([
    ['web:/var/log/syslog', './logs/', { machine: 'web', direction: 'from-machine', source: 'web:/var/log/syslog', destination: './logs/' }],
    ['site dir', 'web:', { machine: 'web', direction: 'to-machine', source: 'site dir', destination: 'web:.' }],
    ['/tmp/a:b', 'db:/srv/', { machine: 'db', direction: 'to-machine', source: '/tmp/a:b', destination: 'db:/srv/' }],
    ['web:/x', 'out/a:b', { machine: 'web', direction: 'from-machine', source: 'web:/x', destination: './out/a:b' }],
  ])('%s -> %s', (source, destination, plan) => {
    expect(planCopy(source, destination, machines)).toEqual(plan);
  });

  it('puts -- before the operands, so that a path starting with - is a path', () => {
    expect(scpArgs('/h/ssh/x.config', planCopy('-rf', 'web:/tmp', machines))).toEqual(['-F', '/h/ssh/x.config', '-r', '-p', '-q', '--', '-rf', 'web:/tmp']);
  });
});
