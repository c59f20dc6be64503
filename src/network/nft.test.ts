import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { bareFilterTable, filterChainName, jumpHandles, renderFilterAccept, renderFilterRemove } from "./nft.js";

const canRun = process.getuid?.() === 0 && spawnSync("nft", ["--version"]).status === 0 && spawnSync("ip", ["-V"]).status === 0;

test("the ip filter part: FORWARD made only when missing, wharf's chain filled afresh, the old jumps replaced by one at the end", () => {
  const script = renderFilterAccept("wq0", ["wq0", "wh-abc"], [7, 9]);
  assert.deepEqual(script.trim().split("\n"), [
    "table ip filter",
    "add chain ip filter FORWARD { type filter hook forward priority filter; }",
    "add chain ip filter WHARF-wq0",
    "flush chain ip filter WHARF-wq0",
    'add rule ip filter WHARF-wq0 iifname "wq0" accept',
    'add rule ip filter WHARF-wq0 oifname "wq0" accept',
    'add rule ip filter WHARF-wq0 iifname "wh-abc" accept',
    'add rule ip filter WHARF-wq0 oifname "wh-abc" accept',
    "delete rule ip filter FORWARD handle 7",
    "delete rule ip filter FORWARD handle 9",
    "add rule ip filter FORWARD jump WHARF-wq0",
  ]);
  assert.ok(!script.includes("policy"), "FORWARD's policy is never set");
  const listed = JSON.stringify({ nftables: [{ chain: { name: "FORWARD", policy: "drop" } }, { rule: { handle: 3, expr: [{ jump: { target: "DOCKER-USER" } }] } }, { rule: { handle: 5, expr: [{ jump: { target: "WHARF-wq0" } }] } }] });
  assert.deepEqual(jumpHandles(listed, filterChainName("wq0")), [5]);
  assert.deepEqual(jumpHandles("not json", "WHARF-wq0"), []);
  assert.equal(renderFilterRemove("wq0", ""), "");
  assert.equal(renderFilterRemove("wq0", listed), "delete rule ip filter FORWARD handle 5\ndelete chain ip filter WHARF-wq0\n");
  assert.equal(bareFilterTable(JSON.stringify({ nftables: [{ table: {} }, { chain: { name: "FORWARD", policy: "accept" } }] })), true);
  assert.equal(bareFilterTable(JSON.stringify({ nftables: [{ chain: { name: "FORWARD", policy: "drop" } }] })), false);
  assert.equal(bareFilterTable(listed), false);
});

test("in a network namespace with dockerd's FORWARD policy DROP: the policy stays, one jump at the end however often applied, and removal leaves the rest", { skip: !canRun && "needs root, nft and ip" }, (t) => {
  const ns = `wharf-nft-${process.pid}`;
  execFileSync("ip", ["netns", "add", ns]);
  t.after(() => spawnSync("ip", ["netns", "del", ns]));
  const nft = (args: string[], input?: string): string => execFileSync("ip", ["netns", "exec", ns, "nft", ...args], { encoding: "utf8", ...(input !== undefined ? { input } : {}) });
  // What dockerd's iptables-nft leaves: FORWARD with policy drop and a rule of its own.
  nft(["-f", "-"], 'table ip filter\nadd chain ip filter FORWARD { type filter hook forward priority filter; policy drop; }\nadd rule ip filter FORWARD iifname "docker0" accept\n');
  for (let i = 0; i < 3; i++) nft(["-f", "-"], renderFilterAccept("wt0", ["wt0"], jumpHandles(nft(["-j", "list", "chain", "ip", "filter", "FORWARD"]), "WHARF-wt0")));
  const forward = nft(["list", "chain", "ip", "filter", "FORWARD"]);
  assert.match(forward, /policy drop;/);
  assert.equal(forward.match(/jump WHARF-wt0/g)?.length, 1);
  assert.ok(forward.indexOf('iifname "docker0" accept') < forward.indexOf("jump WHARF-wt0"), "after the rules that were there");
  assert.match(nft(["list", "chain", "ip", "filter", "WHARF-wt0"]), /iifname "wt0" accept[\s\S]*oifname "wt0" accept/);
  nft(["-f", "-"], renderFilterRemove("wt0", nft(["-j", "list", "chain", "ip", "filter", "FORWARD"])));
  const after = nft(["list", "table", "ip", "filter"]);
  assert.ok(!after.includes("WHARF-wt0"));
  assert.match(after, /policy drop;[\s\S]*iifname "docker0" accept/);
  assert.equal(bareFilterTable(nft(["-j", "list", "table", "ip", "filter"])), false);
  // Where no tool made the table, wharf's makes it with FORWARD accepting; taken out again, it is bare.
  nft(["delete", "table", "ip", "filter"]);
  nft(["-f", "-"], renderFilterAccept("wt0", ["wt0"], []));
  assert.match(nft(["list", "chain", "ip", "filter", "FORWARD"]), /policy accept;/);
  nft(["-f", "-"], renderFilterRemove("wt0", nft(["-j", "list", "chain", "ip", "filter", "FORWARD"])));
  assert.equal(bareFilterTable(nft(["-j", "list", "table", "ip", "filter"])), true);
});
