import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isIgnored, parseIgnoreFile } from './gitignore.ts';

function ignores(text: string, base = '') {
  const rules = parseIgnoreFile(text, base);
  return (relative: string, isDir = false) => isIgnored(rules, relative, isDir);
}

describe('gitignore rules', () => {
  it('matches a name without a slash at any depth', () => {
    const check = ignores('*.log\nbuild\n');
    assert.ok(check('a.log'));
    assert.ok(check('src/deep/b.log'));
    assert.ok(check('build', true));
    assert.ok(check('src/build', true));
    assert.ok(!check('a.txt'));
  });

  it('anchors a pattern with a slash to the ignore file directory', () => {
    const check = ignores('/dist\ndocs/*.md\n');
    assert.ok(check('dist', true));
    assert.ok(!check('src/dist', true));
    assert.ok(check('docs/a.md'));
    assert.ok(!check('docs/sub/a.md'), 'a single star does not cross directories');
    assert.ok(!check('other/docs/a.md'));
  });

  it('limits a trailing slash to directories', () => {
    const check = ignores('cache/\n');
    assert.ok(check('cache', true));
    assert.ok(!check('cache', false));
  });

  it('lets a later negation re-include', () => {
    const check = ignores('*.env\n!example.env\n');
    assert.ok(check('prod.env'));
    assert.ok(!check('example.env'));
  });

  it('supports double stars, classes and escapes, and skips comments', () => {
    const check = ignores('# comment\n**/tmp/**\na/**/z\n[abc].txt\n[!x]y.md\n\\#hash\nfoo?\n');
    assert.ok(check('tmp/x'));
    assert.ok(check('src/tmp/x/y'));
    assert.ok(check('a/z'));
    assert.ok(check('a/b/c/z'));
    assert.ok(check('b.txt'));
    assert.ok(!check('d.txt'));
    assert.ok(check('ay.md'));
    assert.ok(!check('xy.md'));
    assert.ok(check('#hash'));
    assert.ok(!check('# comment'));
    assert.ok(check('food'));
    assert.ok(!check('foo/d'));
  });

  it('scopes the rules of a nested ignore file to its directory', () => {
    const check = ignores('*.gen\n/local\n', 'pkg');
    assert.ok(check('pkg/x.gen'));
    assert.ok(check('pkg/sub/x.gen'));
    assert.ok(!check('x.gen'));
    assert.ok(check('pkg/local', true));
    assert.ok(!check('local', true));
  });

  it('treats regex characters in names literally', () => {
    const check = ignores('a+b(1).txt\n');
    assert.ok(check('a+b(1).txt'));
    assert.ok(!check('aab1.txt'));
  });
});
