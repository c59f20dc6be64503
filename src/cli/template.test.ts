import { test } from "node:test";
import assert from "node:assert/strict";
import { HEADER_FUNCTIONS, StructValue, Template, TemplateError, type TemplateValue } from "./template.js";
import { renderRows, templateText } from "./format.js";
import { CliError } from "./context.js";

const IMAGE = {
  Id: "sha256:abc",
  Size: 4261550,
  Config: { Env: ["A=1", "B=2"], Labels: { "org.b": "2", "org.a": "1" }, Cmd: null, Tty: false },
  RepoTags: ["busybox:latest", "busybox:1.36"],
};

const run = (src: string, data: TemplateValue = IMAGE) => Template.parse(src).execute(data);

test("fields, nested fields and map keys", () => {
  assert.equal(run("{{.Id}} {{.Config.Env}} {{.Config.Labels}}"), "sha256:abc [A=1 B=2] map[org.a:1 org.b:2]");
  assert.equal(run("{{.Config.Labels.org}}"), "<no value>");
});

test("values print as Go prints them: nil, numbers, booleans, missing keys", () => {
  assert.equal(run("{{.Config.Cmd}} {{.Size}} {{.Config.Tty}} {{.Nope}}"), "<nil> 4261550 false <no value>");
  assert.equal(run("{{1.5}} {{-3}} {{0x10}}"), "1.5 -3 16");
});

test("json, index, join, len, lower, upper, title, split", () => {
  assert.equal(run("{{json .Config.Env}}"), '["A=1","B=2"]');
  assert.equal(run("{{json .Config.Labels}}"), '{"org.a":"1","org.b":"2"}');
  assert.equal(run('{{index .Config.Labels "org.b"}} {{index .RepoTags 1}}'), "2 busybox:1.36");
  assert.equal(run('{{join .RepoTags ", "}} {{len .RepoTags}}'), "busybox:latest, busybox:1.36 2");
  assert.equal(run('{{lower "ABC"}} {{upper "abc"}} {{title "hello wide world"}}'), "abc ABC Hello Wide World");
  assert.equal(run('{{split "a:b:c" ":"}} {{index (split "a:b" ":") 1}}'), "[a b c] b");
  assert.equal(run("{{json .}}", "x<y"), '"x<y"');
});

test("pipelines pass their value as the last argument", () => {
  assert.equal(run("{{.Config | json}}"), '{"Cmd":null,"Env":["A=1","B=2"],"Labels":{"org.a":"1","org.b":"2"},"Tty":false}');
  assert.equal(run('{{.Id | printf "%s!"}} {{"x" | upper | printf "[%s]"}}'), "sha256:abc! [X]");
});

test("printf and println format as Go's fmt", () => {
  assert.equal(run('{{printf "%s-%5d|%-4s|%q|%v|%t|%.2f|%x" "a" 42 "b" "c" .RepoTags true 3.14159 255}}'), 'a-   42|b   |"c"|[busybox:latest busybox:1.36]|true|3.14|ff');
  assert.equal(run('{{println "a" 1}}'), "a 1\n");
  assert.equal(run('{{printf "%d"}}'), "%!d(MISSING)");
});

test("range, with variables, else, break and continue", () => {
  assert.equal(run("{{range .RepoTags}}[{{.}}]{{end}}"), "[busybox:latest][busybox:1.36]");
  assert.equal(run("{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}"), "0=busybox:latest;1=busybox:1.36;");
  assert.equal(run("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}} {{end}}"), "org.a:1 org.b:2 ");
  assert.equal(run("{{range .Config.Cmd}}x{{else}}none{{end}}"), "none");
  assert.equal(run("{{range .RepoTags}}{{if eq . \"busybox:latest\"}}{{continue}}{{end}}{{.}}{{break}}{{end}}"), "busybox:1.36");
  assert.equal(run("{{range .RepoTags}}{{$.Id}} {{end}}"), "sha256:abc sha256:abc ");
});

test("if, else if, else and with", () => {
  assert.equal(run("{{if .Config.Cmd}}cmd{{else if .Config.Env}}env{{else}}none{{end}}"), "env");
  assert.equal(run("{{if and .Size (not .Config.Tty)}}yes{{end}}"), "yes");
  assert.equal(run("{{if or .Config.Cmd .Nope}}yes{{else}}no{{end}}"), "no");
  assert.equal(run("{{with .Config}}{{.Env}}{{end}}{{with .Config.Cmd}}x{{else}}-{{end}}"), "[A=1 B=2]-");
  assert.equal(run('{{if ne .Config.Cmd nil}}set{{else}}nil{{end}} {{if gt .Size 1000}}big{{end}}'), "nil big");
});

test("trim markers, comments, variables and $", () => {
  assert.equal(run("a  {{- .Size -}}  b"), "a4261550b");
  assert.equal(run("a {{/* note */}} b"), "a  b");
  assert.equal(run("{{$x := .Id}}{{$x}}{{$x = \"y\"}}{{$x}}"), "sha256:abcy");
  assert.equal(run("{{$}}", "dot"), "dot");
});

test("struct rows fail on unknown fields and marshal with sorted, HTML-escaped keys", () => {
  const row = new StructValue("*formatter.imageContext", { Tag: "<none>", ID: "abc" });
  assert.throws(() => run("{{.Foo}}", row), { message: `template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type *formatter.imageContext` });
  assert.equal(run("{{json .}}", row), '{"ID":"abc","Tag":"\\u003cnone\\u003e"}');
});

test("missingkey=error reports absent map keys as docker's inspect does", () => {
  assert.throws(() => Template.parse("{{.Config.Nope}}").execute(IMAGE, { missingKey: "error" }), { message: /map has no entry for key "Nope"/ });
});

test("parse errors read as Go's", () => {
  const cases: [string, string][] = [
    ["{{.Foo}", "template: :1: bad character U+007D '}'"],
    ["{{.Foo", "template: :1: unclosed action"],
    ["{{nope .}}", 'template: :1: function "nope" not defined'],
    ["{{if .A}}x", "template: :1: unexpected EOF"],
    ["{{end}}", "template: :1: unexpected {{end}}"],
    ["{{$x}}", 'template: :1: undefined variable "$x"'],
    ["\n{{if}}{{end}}", "template: :2: missing value for if"],
  ];
  for (const [src, message] of cases) assert.throws(() => Template.parse(src), (e: unknown) => e instanceof TemplateError && e.message === message, src);
});

test("table formats get a header row from the column names", () => {
  const rows = [new StructValue("*formatter.imageContext", { ID: "abc", Repository: "busybox", Size: "4.26MB" })];
  const header = { ID: "IMAGE ID", Repository: "REPOSITORY", Size: "SIZE" };
  assert.equal(renderRows("table {{.ID}}\\t{{.Repository}}\\t{{.Size}}", rows, header), "IMAGE ID   REPOSITORY   SIZE\nabc        busybox      4.26MB\n");
  assert.equal(renderRows("table {{.Repository | lower}}\t{{json .ID}}", rows, header), "REPOSITORY   IMAGE ID\nbusybox      \"abc\"\n");
  assert.equal(renderRows("{{.Repository}}", rows, header), "busybox\n");
  assert.equal(Template.parse("{{upper .ID}}").withFunctions(HEADER_FUNCTIONS).execute(header), "IMAGE ID");
});

test("format text drops the table keyword, trims spaces and unescapes \\t and \\n", () => {
  assert.equal(templateText("table {{.ID}}\\t{{.Tag}}"), "{{.ID}}\t{{.Tag}}");
  assert.equal(templateText("json"), "{{json .}}");
  assert.equal(templateText("  {{.ID}}\\n"), "{{.ID}}\n");
});

test("template errors in formats become docker's 'template parsing error'", () => {
  assert.throws(() => renderRows("{{.Nope}}", [new StructValue("*formatter.imageContext", { ID: "a" })], {}), (e: unknown) => e instanceof CliError && e.message.startsWith("template parsing error: template: :1:2: executing"));
  assert.throws(() => renderRows("{{.ID", [], {}), { message: "template parsing error: template: :1: unclosed action" });
});
