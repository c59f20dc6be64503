import { test } from "node:test";
import assert from "node:assert/strict";
import { checkArgs, commandHelp, FlagError, flagErrorText, parseArgs, type CommandSpec, type FlagSpec } from "./flags.js";

const FLAGS: FlagSpec[] = [
  { name: "all", short: "a", kind: "bool", usage: "Show all" },
  { name: "quiet", short: "q", kind: "bool", usage: "Only IDs" },
  { name: "human", short: "H", kind: "bool", defaultValue: true, usage: "Human sizes" },
  { name: "filter", short: "f", kind: "stringArray", valueName: "filter", usage: "Filter output" },
  { name: "format", kind: "string", valueName: "string", usage: "Format output" },
  { name: "change", short: "c", kind: "stringArray", valueName: "list", usage: "Apply instruction" },
];

test("long flags take their value after a space or an equals sign", () => {
  const p = parseArgs(["--format", "{{.ID}}", "--filter=dangling=true"], FLAGS);
  assert.equal(p.values.string("format"), "{{.ID}}");
  assert.deepEqual(p.values.strings("filter"), ["dangling=true"]);
});

test("short flags combine, and a value may follow a short flag directly", () => {
  const p = parseArgs(["-aq", "-fdangling=true", "-f", "label=x", "-f=reference=b*"], FLAGS);
  assert.equal(p.values.bool("all"), true);
  assert.equal(p.values.bool("quiet"), true);
  assert.deepEqual(p.values.strings("filter"), ["dangling=true", "label=x", "reference=b*"]);
});

test("a value-taking short flag ends a combined group and takes the rest", () => {
  const p = parseArgs(["-qfdangling=false"], FLAGS);
  assert.equal(p.values.bool("quiet"), true);
  assert.deepEqual(p.values.strings("filter"), ["dangling=false"]);
});

test("booleans accept =false and Go's other spellings, and keep non-zero defaults", () => {
  assert.equal(parseArgs([], FLAGS).values.bool("human"), true);
  assert.equal(parseArgs(["--human=false"], FLAGS).values.bool("human"), false);
  assert.equal(parseArgs(["-H=0"], FLAGS).values.bool("human"), false);
  assert.equal(parseArgs(["--all=T"], FLAGS).values.bool("all"), true);
  assert.throws(() => parseArgs(["--human=maybe"], FLAGS), { message: `invalid argument "maybe" for "-H, --human" flag: strconv.ParseBool: parsing "maybe": invalid syntax` });
});

test("repeated flags collect in order", () => {
  const p = parseArgs(["-c", "CMD [\"sh\"]", "--change", "ENV A=1", "-cEXPOSE 80"], FLAGS);
  assert.deepEqual(p.values.strings("change"), ['CMD ["sh"]', "ENV A=1", "EXPOSE 80"]);
});

test("flags may follow positional arguments, and -- ends flags", () => {
  const p = parseArgs(["busybox", "-q", "--", "-a", "--format"], FLAGS);
  assert.deepEqual(p.args, ["busybox", "-a", "--format"]);
  assert.equal(p.values.bool("quiet"), true);
  assert.equal(p.values.bool("all"), false);
});

test("without interspersing, the first positional argument ends flags", () => {
  const p = parseArgs(["src", "-q", "dst"], FLAGS, { interspersed: false });
  assert.deepEqual(p.args, ["src", "-q", "dst"]);
});

test("a lone dash is a positional argument", () => {
  assert.deepEqual(parseArgs(["-", "repo:tag"], FLAGS).args, ["-", "repo:tag"]);
});

test("unknown flags and missing values fail with pflag's messages", () => {
  assert.throws(() => parseArgs(["--foo"], FLAGS), (e: unknown) => e instanceof FlagError && e.message === "unknown flag: --foo");
  assert.throws(() => parseArgs(["-z"], FLAGS), { message: "unknown shorthand flag: 'z' in -z" });
  assert.throws(() => parseArgs(["-qz"], FLAGS), { message: "unknown shorthand flag: 'z' in -z" });
  assert.throws(() => parseArgs(["--format"], FLAGS), { message: "flag needs an argument: --format" });
  assert.throws(() => parseArgs(["-f"], FLAGS), { message: "flag needs an argument: 'f' in -f" });
});

test("--help is recognised on every command", () => {
  assert.equal(parseArgs(["x", "--help"], FLAGS).help, true);
  assert.equal(parseArgs(["-h"], FLAGS).help, true);
});

const SPEC: CommandSpec = { path: ["tag"], use: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", short: "Create a tag", args: { kind: "exact", n: 2 }, flags: [] };

test("argument counts are checked with docker's messages", () => {
  const use = "wharf tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]";
  assert.equal(checkArgs({ kind: "exact", n: 2 }, ["a", "b"], "wharf", "wharf tag", use), undefined);
  assert.equal(checkArgs({ kind: "exact", n: 2 }, ["a"], "wharf", "wharf tag", use), `wharf: 'wharf tag' requires 2 arguments\n\nUsage:  ${use}\n\nRun 'wharf tag --help' for more information`);
  assert.match(checkArgs({ kind: "min", n: 1 }, [], "wharf", "wharf rmi", "wharf rmi [OPTIONS] IMAGE [IMAGE...]")!, /^wharf: 'wharf rmi' requires at least 1 argument\n\nUsage: {2}wharf rmi \[OPTIONS\] IMAGE \[IMAGE\.\.\.\]\n\nSee 'wharf rmi --help' for more information$/);
  assert.match(checkArgs({ kind: "max", n: 1 }, ["a", "b"], "wharf", "wharf images", "wharf images")!, /requires at most 1 argument\n/);
  assert.match(checkArgs({ kind: "none" }, ["a"], "wharf", "wharf load", "wharf load [OPTIONS]")!, /^wharf: 'wharf load' accepts no arguments/);
});

test("flag errors read as docker's, with the usage line", () => {
  assert.equal(flagErrorText("wharf", SPEC, "unknown flag: --foo"), "unknown flag: --foo\n\nUsage:  wharf tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]\n\nRun 'wharf tag --help' for more information");
});

test("help lists flags sorted and wrapped as pflag does", () => {
  const spec: CommandSpec = { path: ["history"], use: "[OPTIONS] IMAGE", short: "Show the history of an image", aliases: "wharf image history, wharf history", args: { kind: "exact", n: 1 }, flags: FLAGS };
  const help = commandHelp("wharf", spec, 79);
  assert.equal(
    help,
    [
      "Usage:  wharf history [OPTIONS] IMAGE",
      "",
      "Show the history of an image",
      "",
      "Aliases:",
      "  wharf image history, wharf history",
      "",
      "Options:",
      "  -a, --all             Show all",
      "  -c, --change list     Apply instruction",
      "  -f, --filter filter   Filter output",
      "      --format string   Format output",
      "  -H, --human           Human sizes (default true)",
      "  -q, --quiet           Only IDs",
      "",
    ].join("\n"),
  );
});
