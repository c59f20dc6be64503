import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { IgnoreMatcher, ignoreLines } from "./dockerignore.js";

const matcher = (text: string) => new IgnoreMatcher(ignoreLines(text));

describe(".dockerignore rules", () => {
  it("skips comments and blank lines and matches plain names at the root only", () => {
    const m = matcher("# a comment\n\nnode_modules\n");
    assert.equal(m.ignores("node_modules"), true);
    assert.equal(m.ignores("node_modules/x/y.js"), true, "everything below a matched directory");
    assert.equal(m.ignores("src/node_modules"), false);
  });

  it("takes *, ? and character classes within one path segment", () => {
    const m = matcher("*.log\nsrc/?.tmp\ndata[0-9]\n");
    assert.equal(m.ignores("a.log"), true);
    assert.equal(m.ignores("dir/a.log"), false);
    assert.equal(m.ignores("src/a.tmp"), true);
    assert.equal(m.ignores("src/ab.tmp"), false);
    assert.equal(m.ignores("data7"), true);
    assert.equal(m.ignores("datax"), false);
  });

  it("matches any number of directories with **", () => {
    const m = matcher("**/*.o\nbuild/**\n");
    assert.equal(m.ignores("a.o"), true);
    assert.equal(m.ignores("x/y/z.o"), true);
    assert.equal(m.ignores("build/deep/file"), true);
    assert.equal(m.ignores("src/main.c"), false);
  });

  it("lets the last matching pattern decide, with ! exceptions", () => {
    const m = matcher("*.md\n!README.md\ndocs\n!docs/keep.txt\n");
    assert.equal(m.ignores("CHANGES.md"), true);
    assert.equal(m.ignores("README.md"), false);
    assert.equal(m.ignores("docs/other.txt"), true);
    assert.equal(m.ignores("docs/keep.txt"), false);
    assert.equal(m.mayIncludeBelow("docs"), true);
  });

  it("cleans patterns: leading slashes and ./ do not matter", () => {
    const m = matcher("/secret\n./tmp/\n");
    assert.equal(m.ignores("secret"), true);
    assert.equal(m.ignores("tmp/a"), true);
  });
});
