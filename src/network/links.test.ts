import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sys } from "../internal/index.js";
import { createNamespace, linkExists, wireNamespace, type EndpointPlan } from "./links.js";

const ip = (args: string[], ns?: string) => execFileSync(ns ? "nsenter" : "ip", ns ? [`--net=${ns}`, "ip", ...args] : args, { encoding: "utf8" });

test("a namespace is wired over rtnetlink: loopback, a veth pair on a bridge, the address, the default route; a second wire of one name is refused", async () => {
  const dir = await mkdtemp(join(tmpdir(), "wharf-links-"));
  const tag = randomBytes(4).toString("hex");
  const bridge = `wt${tag}`;
  const ns = join(dir, "ns");
  let made = false;
  try {
    ip(["link", "add", bridge, "type", "bridge"]);
    ip(["link", "set", bridge, "up"]);
    await createNamespace(ns);
    made = true;
    const plan: EndpointPlan = { ifName: "eth0", hostIf: `vt${tag}`, bridge, address: "10.254.7.2", prefix: 24, mac: "02:42:0a:fe:07:02", mtu: 1400 };
    await wireNamespace(ns, [plan], "10.254.7.1", true);

    const links = ip(["-o", "link"], ns);
    assert.match(links, /lo: <LOOPBACK,UP,LOWER_UP>/);
    assert.match(links, /eth0@\S+ <[^>]*\bUP\b[^>]*> mtu 1400 /);
    assert.match(links, /link\/ether 02:42:0a:fe:07:02 /);
    assert.match(ip(["-o", "-4", "addr", "show", "dev", "eth0"], ns), / inet 10\.254\.7\.2\/24 /);
    assert.match(ip(["route"], ns), /^default via 10\.254\.7\.1 dev eth0/m);
    const host = ip(["-o", "link", "show", plan.hostIf]);
    assert.match(host, new RegExp(`mtu 1400 .*master ${bridge} state`));
    assert.match(host, /<[^>]*\bUP\b/);

    // The same interface name again: EEXIST, one line, and nothing more in the namespace.
    await assert.rejects(wireNamespace(ns, [{ ...plan, hostIf: `vu${tag}` }], undefined, false), /wire network namespace: EEXIST: .*RTM_NEWLINK 'eth0'$/);
    assert.equal(await linkExists(`vu${tag}`), false);
    // A bridge that is not there: the step and the name.
    await assert.rejects(wireNamespace(ns, [{ ...plan, ifName: "eth1", hostIf: `vw${tag}`, bridge: `wx${tag}` }], undefined, false), new RegExp(`ENODEV: .*'wx${tag}'`));
    // Malformed plans never reach the kernel.
    assert.throws(() => sys().netnsWire(ns, [{ ...plan, mac: "not a mac" }], null, false), TypeError);
    assert.throws(() => sys().netnsWire(ns, [{ ...plan, ifName: "a-name-longer-than-15" }], null, false), TypeError);
    assert.throws(() => sys().netnsWire(ns, [{ ...plan, address: "10.0.0.300" }], null, false), TypeError);
    await assert.rejects(wireNamespace(join(dir, "missing"), [], undefined, true), /ENOENT/);
  } finally {
    if (made) sys().umount2(ns, 2);
    // The namespace's end takes its veth pairs with it; the bridge is this test's.
    try {
      execFileSync("ip", ["link", "del", bridge], { stdio: "ignore" });
    } catch {
      // not made
    }
    await rm(dir, { recursive: true, force: true });
  }
});
