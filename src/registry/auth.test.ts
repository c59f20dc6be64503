// Authorizers and the config parser, without a network.
import { test } from "node:test";
import assert from "node:assert/strict";
import bcrypt from "bcryptjs";
import { basicAuthorizer, Htpasswd, parseScope, TokenAuthorizer } from "./auth.js";
import { buildConfig, parseServeFlags } from "./config.js";
import { errorResponse } from "./errors.js";

const htpasswd = Htpasswd.parse(`alice:${bcrypt.hashSync("pw", 4)}\nbob:${bcrypt.hashSync("pw2", 4).replace("$2b$", "$2y$")}\n`, "test");
const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString("base64")}` });
const pull = [{ type: "repository" as const, name: "a/b", actions: ["pull" as const] }];
const push = [{ type: "repository" as const, name: "a/b", actions: ["pull" as const, "push" as const] }];

test("htpasswd accepts bcrypt entries ($2y$ too) and refuses other hash formats", async () => {
  assert.equal(await htpasswd.verify("alice", "pw"), true);
  assert.equal(await htpasswd.verify("alice", "no"), false);
  assert.equal(await htpasswd.verify("bob", "pw2"), true);
  assert.equal(await htpasswd.verify("carol", "pw"), false);
  assert.throws(() => Htpasswd.parse("eve:$apr1$abc$def\n", "x"), /only bcrypt/);
});

test("basic auth challenges without credentials, refuses wrong ones, allows anonymous pull when configured", async () => {
  const a = basicAuthorizer({ htpasswd, realm: "r", anonymousPull: false });
  await assert.rejects(a.authorize({}, pull), (e) => errorResponse(e).status === 401 && errorResponse(e).challenge === 'Basic realm="r"');
  await assert.rejects(a.authorize(basic("alice", "bad"), pull), (e) => errorResponse(e).status === 401);
  assert.deepEqual(await a.authorize(basic("alice", "pw"), push), { user: "alice" });
  const anon = basicAuthorizer({ htpasswd, realm: "r", anonymousPull: true });
  assert.deepEqual(await anon.authorize({}, pull), { user: undefined });
  await assert.rejects(anon.authorize({}, push));
  await assert.rejects(anon.authorize({}, []), "the ping still challenges");
});

test("token auth issues scoped tokens that grant exactly what the rules allow", async () => {
  const t = new TokenAuthorizer({ htpasswd, realm: "http://127.0.0.1:5000/token", service: "svc", issuer: "iss", expiresInSeconds: 60, anonymousPull: true, rules: [{ user: "alice", repository: "a/*", actions: ["pull", "push"] }] });
  await assert.rejects(t.authorize({}, push), (e) => /^Bearer realm="http:\/\/127.0.0.1:5000\/token",service="svc",scope="repository:a\/b:pull,push"$/.test(errorResponse(e).challenge ?? ""));
  const q = new URLSearchParams({ service: "svc", scope: "repository:a/b:pull,push,delete" });
  const { token } = await t.issueToken(basic("alice", "pw"), q);
  const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
  assert.deepEqual(claims.access, [{ type: "repository", name: "a/b", actions: ["pull", "push"] }]);
  assert.deepEqual(await t.authorize({ authorization: `Bearer ${token}` }, push), { user: "alice" });
  await assert.rejects(t.authorize({ authorization: `Bearer ${token}` }, [{ type: "repository", name: "a/b", actions: ["delete"] }]), (e) => /insufficient_scope/.test(errorResponse(e).challenge ?? ""));
  await assert.rejects(t.authorize({ authorization: `Bearer ${token}` }, [{ type: "repository", name: "other", actions: ["pull"] }]));
  await assert.rejects(t.authorize({ authorization: `Bearer ${token.slice(0, -2)}xx` }, push), (e) => /invalid_token/.test(errorResponse(e).challenge ?? ""));
  await assert.rejects(t.issueToken(basic("alice", "wrong"), q), (e) => errorResponse(e).status === 401);
  const anon = await t.issueToken({}, q);
  const anonClaims = JSON.parse(Buffer.from(anon.token.split(".")[1]!, "base64url").toString());
  assert.deepEqual(anonClaims.access[0].actions, ["pull"]);
  const forged = new TokenAuthorizer({ htpasswd, realm: "http://x/token", service: "svc", issuer: "iss", expiresInSeconds: 60, anonymousPull: false });
  await assert.rejects(forged.authorize({ authorization: `Bearer ${token}` }, pull), "another key does not verify it");
  assert.equal(parseScope("repository:a/b:pull")?.name, "a/b");
  assert.equal(parseScope("repository:a/b:steal"), undefined);
});

test("config: flags override the file; unknown keys, plain HTTP off loopback and half TLS are refused", () => {
  const none = { tokenAuth: false, anonymousPull: false, insecureHttp: false, help: false };
  const c = buildConfig({ addr: "127.0.0.1:6000", root: "/tmp/x", limits: { maxListEntries: 10 }, gc: { intervalSeconds: 60, deleteUntagged: true } }, { ...none, addr: "127.0.0.1:7000" });
  assert.deepEqual(c.addr, { host: "127.0.0.1", port: 7000 });
  assert.equal(c.limits.maxListEntries, 10);
  assert.equal(c.limits.maxManifestBytes, 4 * 1024 * 1024);
  assert.equal(c.gc.deleteUntagged, true);
  assert.throws(() => buildConfig({ bogus: 1 }, none), /unknown key "bogus"/);
  assert.throws(() => buildConfig({ addr: "0.0.0.0:5000" }, none), /refusing plain HTTP/);
  assert.equal(buildConfig({ addr: "0.0.0.0:5000", insecureHttp: true }, none).insecureHttp, true);
  assert.throws(() => buildConfig({ tls: { cert: "/c" } }, none), /both a certificate and a key/);
  assert.throws(() => buildConfig({ addr: "nope" }, none), /expected host:port/);
  assert.throws(() => buildConfig({ limits: { maxListEntries: 0 } }, none), /limits.maxListEntries/);
  assert.throws(() => buildConfig({ auth: { token: {} } }, none), /needs users/);
  assert.deepEqual(parseServeFlags(["--addr", ":5000", "--root=/r", "--anonymous-pull"]), { ...none, addr: ":5000", root: "/r", anonymousPull: true });
  assert.throws(() => parseServeFlags(["--nope"]), /unknown flag/);
  assert.throws(() => parseServeFlags(["extra"]), /accepts no arguments/);
  assert.throws(() => parseServeFlags(["--addr"]), /needs an argument/);
});
