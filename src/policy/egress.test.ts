import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { egressAllowList } from './derived.ts';
import { Cidr, canonicalHost, EgressSection, HostPattern } from './egress.ts';
import { loadHostLists, loadPolicy } from './load.ts';
import { packageRoot } from './package-files.ts';

describe('canonicalHost', () => {
  it('reduces every spelling of a name to the one a resolver is asked for', () => {
    for (const spelling of ['registry.test', 'REGISTRY.Test', 'registry.test.', 'ＲＥＧＩＳＴＲＹ.test']) {
      assert.deepEqual(canonicalHost(spelling), { kind: 'name', name: 'registry.test' }, spelling);
    }
    assert.deepEqual(canonicalHost('bücher.test'), { kind: 'name', name: 'xn--bcher-kva.test' });
    // A homograph is another name, not the allowed one.
    assert.deepEqual(canonicalHost('registry.tеst'), { kind: 'name', name: 'registry.xn--tst-rdd' });
  });

  it('reads anything a URL parser takes for an address as that address', () => {
    for (const spelling of ['127.0.0.1', '127.1', '0x7f000001', '[::ffff:127.0.0.1]', '::ffff:7f00:1']) {
      assert.deepEqual(canonicalHost(spelling), { kind: 'ip', address: '127.0.0.1' }, spelling);
    }
    assert.deepEqual(canonicalHost('[2001:DB8::0:1]'), { kind: 'ip', address: '2001:db8::1' });
  });

  it('refuses what is not a host name', () => {
    for (const bad of [
      '',
      'a..b',
      'exa mple.test',
      'evil.test%2f',
      'a/b',
      'x'.repeat(300),
      '-a.test',
      'registry.test..',
    ]) {
      assert.equal(canonicalHost(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('egress section', () => {
  it('defaults to ports 80 and 443, no CIDRs and 32 connections', () => {
    const section = EgressSection.parse({ hosts: ['Registry.Example.'] });
    assert.deepEqual(section.hosts, ['registry.example']);
    assert.deepEqual(section.ports, [80, 443]);
    assert.deepEqual(section.cidrs, []);
    assert.deepEqual(section.limits, { connections: 32 });
  });

  it('takes patterns of two labels or more, never a bare wildcard or an address', () => {
    assert.equal(HostPattern.parse('*.Files.Example'), '*.files.example');
    for (const bad of ['*', '*.example', '*.*.example', '10.0.0.1', 'a b']) {
      assert.equal(HostPattern.safeParse(bad).success, false, bad);
    }
  });

  it('keeps CIDRs as network addresses and refuses mapped or malformed ones', () => {
    assert.equal(Cidr.parse('10.1.2.3/16'), '10.1.0.0/16');
    assert.equal(Cidr.parse('FD00:EC2::254/128'), 'fd00:ec2::254/128');
    for (const bad of ['10.0.0.0/33', '10.0.0.0', '::ffff:10.0.0.0/104', 'example.test/8', '10.0.0.0/8/8']) {
      assert.equal(Cidr.safeParse(bad).success, false, bad);
    }
  });

  it('converts units in limits', () => {
    const section = EgressSection.parse({
      limits: { connections: 4, bytesPerSecond: '1MiB', totalBytes: '2GiB' },
    });
    assert.deepEqual(section.limits, {
      connections: 4,
      bytesPerSecond: 1024 ** 2,
      totalBytes: 2 * 1024 ** 3,
    });
  });
});

describe('policies with egress', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'sandboxd-egress-policies-'));
    await cp(path.join(packageRoot(), 'policies/seccomp'), path.join(directory, 'seccomp'), {
      recursive: true,
    });
    await mkdir(path.join(directory, 'hosts'));
    await writeFile(
      path.join(directory, 'hosts', 'mirrors.yaml'),
      'description: our package mirrors\nhosts:\n  - npm.mirror.example\n  - "*.files.mirror.example"\n',
    );
  });
  after(() => rm(directory, { recursive: true, force: true }));

  it('keeps network none by default: no allow-list', async () => {
    await writeFile(path.join(directory, 'plain.yaml'), 'name: plain\n');
    assert.equal(egressAllowList(await loadPolicy('plain', directory)), null);
  });

  it('adds the hosts of the lists it includes', async () => {
    await writeFile(
      path.join(directory, 'open.yaml'),
      'name: open\nnetwork:\n  egress:\n    hosts: [git.example]\n    include: [mirrors]\n    ports: [443]\n',
    );
    const allowList = egressAllowList(await loadPolicy('open', directory));
    assert.deepEqual(allowList?.hosts, ['git.example', 'npm.mirror.example', '*.files.mirror.example']);
    assert.deepEqual(allowList?.include, ['mirrors']);
    assert.deepEqual(allowList?.ports, [443]);
  });

  it('names the missing or broken host list', async () => {
    await writeFile(
      path.join(directory, 'missing.yaml'),
      'name: missing\nnetwork:\n  egress:\n    include: [absent]\n',
    );
    await assert.rejects(
      loadPolicy('missing', directory),
      /network\.egress\.include: .*absent\.yaml: cannot read/,
    );
    await writeFile(path.join(directory, 'hosts', 'bad.yaml'), 'hosts: ["*"]\n');
    await assert.rejects(loadHostLists(['bad'], directory), /bad\.yaml: hosts\.0: expected a host name/);
    await assert.rejects(loadHostLists(['../x'], directory), /a host-list name/);
  });

  it('ships a host-list example with placeholder names only', async () => {
    const lists = await loadHostLists(['example-registry'], path.join(packageRoot(), 'policies'));
    for (const host of lists['example-registry'] ?? []) assert.match(host, /\.example$/);
  });
});
