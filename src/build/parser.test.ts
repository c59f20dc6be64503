// The parser and the shell lexer against BuildKit's own corpus
// (../shared/corpora/dockerfile-parser, read by relative path).
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { dumpNode, goQuote, parseDockerfile } from "./parser.js";
import { processWord, processWords, type Env } from "./shell.js";

const CORPUS = fileURLToPath(new URL("../../../../shared/corpora/dockerfile-parser/", import.meta.url));

function cases(dir: string): string[] {
  return readdirSync(CORPUS + dir).sort();
}

describe("Dockerfile parser on BuildKit's corpus", () => {
  for (const name of cases("testfiles")) {
    it(`parses ${name} to its expected result`, () => {
      const text = readFileSync(`${CORPUS}testfiles/${name}/Dockerfile`, "utf8");
      const expected = readFileSync(`${CORPUS}testfiles/${name}/result`, "utf8");
      const got = parseDockerfile(text).nodes.map((n) => dumpNode(n) + "\n").join("");
      assert.equal(got, expected);
    });
  }
  for (const name of cases("testfiles-negative")) {
    it(`rejects ${name}`, () => {
      const text = readFileSync(`${CORPUS}testfiles-negative/${name}/Dockerfile`, "utf8");
      assert.throws(() => parseDockerfile(text), (e: Error) => /dockerfile parse error/.test(e.message));
    });
  }
  it("gives each instruction its start and end line", () => {
    const result = parseDockerfile(readFileSync(`${CORPUS}testfile-line/Dockerfile`, "utf8"));
    assert.deepEqual(result.nodes.map((n) => [n.startLine, n.endLine]), [[5, 5], [11, 12], [17, 31]]);
  });
});

function envOf(entries: readonly string[]): Env {
  const map = new Map<string, string>();
  for (const e of entries) {
    const eq = e.indexOf("=");
    map.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return (name) => map.get(name);
}

describe("shell lexer on BuildKit's corpus", () => {
  it("expands every envVarTest word as BuildKit does on unix", () => {
    const env = envOf(["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]);
    let checked = 0;
    for (const line of readFileSync(`${CORPUS}envVarTest`, "utf8").split("\n")) {
      if (line.trim() === "" || line.startsWith("#")) continue;
      const fields = line.split("|");
      const platform = fields[0]!.trim();
      const source = fields[1]!.trim();
      const expected = (fields[2] ?? "").trim();
      if (platform === "W") continue;
      checked++;
      if (expected === "error") assert.throws(() => processWord(source, env), Error, `expected an error for ${source}`);
      else assert.equal(processWord(source, env), expected, `expanding ${source}`);
    }
    assert.ok(checked > 200);
  });

  it("splits every wordsTest line into the expected words", () => {
    const entries: string[] = [];
    let checked = 0;
    for (const line of readFileSync(`${CORPUS}wordsTest`, "utf8").split("\n")) {
      if (line.trim() === "" || line.startsWith("#")) continue;
      if (line.startsWith("ENV ")) {
        entries.push(line.slice(3).replace(/^ +/, ""));
        continue;
      }
      const [input, output] = line.split("|") as [string, string];
      const expected = output.replace(/^ +/, "").split(",");
      checked++;
      if (expected[0] === "error") assert.throws(() => processWords(input.trim(), envOf(entries)));
      else assert.deepEqual(processWords(input.trim(), envOf(entries)), expected, `splitting ${input}`);
    }
    assert.ok(checked > 20);
  });
});

describe("parser beyond the corpus", () => {
  it("reads heredocs after RUN and COPY, quoted ones unexpanded", () => {
    const r = parseDockerfile('FROM scratch\nRUN <<EOF\necho hi\necho $X\nEOF\nCOPY <<"END" /a\n$HOME\nEND\nRUN <<-T cat\n\tindented\n\tT\n');
    const [, run, copy, chomped] = r.nodes;
    assert.deepEqual(run!.heredocs, [{ name: "EOF", content: "echo hi\necho $X\n", expand: true, chomp: false, fileDescriptor: 0 }]);
    assert.deepEqual([run!.startLine, run!.endLine], [2, 5]);
    assert.equal(copy!.heredocs[0]!.expand, false);
    assert.equal(copy!.heredocs[0]!.content, "$HOME\n");
    assert.equal(chomped!.heredocs[0]!.chomp, true);
    assert.equal(chomped!.heredocs[0]!.content, "\tindented\n");
  });

  it("rejects an unterminated heredoc with its lines", () => {
    assert.throws(() => parseDockerfile("FROM scratch\nRUN <<EOF\necho\n"), /line.*2.*unterminated heredoc/);
  });

  it("takes the escape directive and rejects a bad one or a repeated one", () => {
    assert.equal(parseDockerfile("# escape=`\nFROM a\n").directives.escape, "`");
    assert.throws(() => parseDockerfile("# escape=x\nFROM a\n"), /invalid escape token/);
    assert.throws(() => parseDockerfile("# escape=`\n# escape=\\\nFROM a\n"), /only one escape parser directive/);
    assert.equal(parseDockerfile("# syntax=docker/dockerfile:1\nFROM a\n").directives.syntax, "docker/dockerfile:1");
  });

  it("quotes as Go does", () => {
    assert.equal(goQuote('a"\\\t\u0000♥'), '"a\\"\\\\\\t\\x00♥"');
  });
});
