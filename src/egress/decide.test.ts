import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EgressAllowList, EgressSection } from '../policy/egress.ts';
import { CidrSet, specialAddressRule } from './addresses.ts';
import { checkName, matchesHostPattern, pickAddress } from './decide.ts';

function allowList(section: Record<string, unknown>): EgressAllowList {
  const parsed = EgressSection.parse(section);
  return { ...parsed };
}

describe('address rules', () => {
  it('refuses inward and special addresses in every form', () => {
    const cases: [string, string | undefined][] = [
      ['127.0.0.1', 'address-loopback'],
      ['::1', 'address-loopback'],
      ['::ffff:127.0.0.1', 'address-loopback'],
      ['::ffff:7f00:2', 'address-loopback'],
      ['10.1.2.3', 'address-private'],
      ['172.16.0.1', 'address-private'],
      ['192.168.1.1', 'address-private'],
      ['100.64.0.1', 'address-private'],
      ['fd12::1', 'address-private'],
      ['::ffff:10.0.0.1', 'address-private'],
      ['169.254.1.1', 'address-link-local'],
      ['fe80::1', 'address-link-local'],
      ['169.254.169.254', 'address-metadata'],
      ['::ffff:169.254.169.254', 'address-metadata'],
      ['fd00:ec2::254', 'address-metadata'],
      ['100.100.100.200', 'address-metadata'],
      ['224.0.0.1', 'address-multicast'],
      ['ff02::1', 'address-multicast'],
      ['255.255.255.255', 'address-multicast'],
      ['0.0.0.0', 'address-reserved'],
      ['::', 'address-reserved'],
      ['192.0.2.1', 'address-reserved'],
      ['64:ff9b::a00:1', 'address-reserved'],
      ['2002:a00:1::', 'address-reserved'],
      ['93.184.215.14', undefined],
      ['2606:2800:21f:cb07:6820:80da:af6b:8b2c', undefined],
    ];
    for (const [address, rule] of cases) assert.equal(specialAddressRule(address), rule, address);
  });

  it('opens a metadata address only for a CIDR that names it alone', () => {
    assert.equal(new CidrSet(['169.254.0.0/16']).match('169.254.169.254'), undefined);
    assert.equal(new CidrSet(['169.254.0.0/16']).match('169.254.1.1'), '169.254.0.0/16');
    assert.equal(new CidrSet(['169.254.169.254/32']).match('169.254.169.254'), '169.254.169.254/32');
    assert.equal(new CidrSet(['127.0.0.0/8']).match('::ffff:127.0.0.9'), '127.0.0.0/8');
    assert.equal(new CidrSet(['fd00::/8']).match('10.0.0.1'), undefined);
  });
});

describe('name check', () => {
  const list = allowList({ hosts: ['registry.test', '*.files.test'], cidrs: ['127.0.0.1/32'] });

  it('matches exact names and names under a pattern, not the pattern itself', () => {
    assert.equal(matchesHostPattern('a.files.test', '*.files.test'), true);
    assert.equal(matchesHostPattern('a.b.files.test', '*.files.test'), true);
    assert.equal(matchesHostPattern('files.test', '*.files.test'), false);
    assert.equal(matchesHostPattern('evilfiles.test', '*.files.test'), false);
    assert.equal(matchesHostPattern('registry.test.evil', 'registry.test'), false);
  });

  it('allows a listed name in any spelling, on a listed port', () => {
    for (const spelling of ['registry.test', 'REGISTRY.TEST.', 'ＲＥＧＩＳＴＲＹ.test']) {
      const decision = checkName(list, spelling, 443);
      assert.ok(decision.isAllowed, spelling);
      assert.equal(decision.rule, 'host:registry.test');
    }
    const pattern = checkName(list, 'cdn.files.test', 80);
    assert.ok(pattern.isAllowed);
    assert.equal(pattern.rule, 'pattern:*.files.test');
  });

  it('refuses unlisted names in every spelling, with the rule that refused', () => {
    for (const spelling of ['evil.test', 'EVIL.TEST.', 'évil.test', 'registry.tеst', 'files.test']) {
      const decision = checkName(list, spelling, 443);
      assert.ok(!decision.isAllowed, spelling);
      assert.equal(decision.rule, 'host-not-allowed');
      assert.equal(decision.status, 403);
    }
    const port = checkName(list, 'registry.test', 8443);
    assert.ok(!port.isAllowed);
    assert.equal(port.rule, 'port-not-allowed');
    assert.match(port.message, /port 8443 is not allowed \(allowed: 80, 443\)/);
    const invalid = checkName(list, 'registry.test/x', 443);
    assert.ok(!invalid.isAllowed);
    assert.equal(invalid.rule, 'invalid-host');
  });

  it('refuses address literals unless a CIDR names them', () => {
    for (const literal of ['93.184.215.14', '169.254.169.254', '10.0.0.1', '127.0.0.2', '0x7f000002']) {
      const decision = checkName(list, literal, 443);
      assert.ok(!decision.isAllowed, literal);
      assert.equal(decision.rule, 'ip-literal-not-allowed');
    }
    const inside = checkName(list, '127.1', 443);
    assert.ok(inside.isAllowed);
    assert.equal(inside.rule, 'cidr:127.0.0.1/32');
  });
});

describe('address choice', () => {
  it('takes the first allowed address, needing a CIDR for inward ones', () => {
    const production = allowList({ hosts: ['registry.test'] });
    const refused = pickAddress(production, 'registry.test', 'host:registry.test', ['127.0.0.1']);
    assert.ok(!refused.isAllowed);
    assert.equal(refused.rule, 'address-loopback');
    assert.match(refused.message, /registry\.test resolves to 127\.0\.0\.1, a loopback address/);
    const mixed = pickAddress(production, 'registry.test', 'host:registry.test', [
      '10.0.0.1',
      '93.184.215.14',
    ]);
    assert.ok(mixed.isAllowed);
    assert.equal(mixed.address, '93.184.215.14');
    const test = allowList({ hosts: ['registry.test'], cidrs: ['127.0.0.1/32'] });
    const inside = pickAddress(test, 'registry.test', 'host:registry.test', ['127.0.0.2', '127.0.0.1']);
    assert.ok(inside.isAllowed);
    assert.equal(inside.address, '127.0.0.1');
    assert.equal(inside.rule, 'host:registry.test cidr:127.0.0.1/32');
    const metadata = pickAddress(test, 'meta.test', 'host:meta.test', ['169.254.169.254']);
    assert.ok(!metadata.isAllowed);
    assert.equal(metadata.rule, 'address-metadata');
  });
});
