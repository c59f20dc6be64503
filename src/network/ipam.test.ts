import { test } from "node:test";
import assert from "node:assert/strict";
import { allocateAddress, claimAddress, parseAddressPool, pickSubnet, planAddresses } from "./ipam.js";
import { formatIpv4, formatSubnet, overlaps, parseIpv4, parseSubnet } from "./ipv4.js";
import { isKind } from "../internal/index.js";

test("addresses and subnets parse once and print back", () => {
  assert.equal(formatIpv4(parseIpv4("10.1.2.3")), "10.1.2.3");
  assert.equal(formatSubnet(parseSubnet("10.1.0.0/16")), "10.1.0.0/16");
  assert.equal(formatSubnet(parseSubnet("10.1.0.1/16", { loose: true })), "10.1.0.0/16");
  for (const bad of ["10.1.2", "256.1.1.1", "01.2.3.4", "a.b.c.d"]) assert.throws(() => parseIpv4(bad), (e) => isKind(e, "invalid-argument"));
  assert.throws(() => parseSubnet("10.1.0.1/16"), /host bits set/);
  assert.throws(() => parseSubnet("10.0.0.0/31"), /prefix length/);
  assert.ok(overlaps(parseSubnet("10.0.0.0/8"), parseSubnet("10.3.0.0/24")));
  assert.ok(!overlaps(parseSubnet("10.1.0.0/24"), parseSubnet("10.1.1.0/24")));
});

test("a new network's subnet avoids host routes and other networks", () => {
  const pool = parseAddressPool("base=10.50.0.0/16,size=24");
  assert.equal(formatSubnet(pickSubnet([pool], [])), "10.50.0.0/24");
  assert.equal(formatSubnet(pickSubnet([pool], [parseSubnet("10.50.0.0/24"), parseSubnet("10.50.1.0/25")])), "10.50.2.0/24");
  // A host route that covers the whole pool leaves nothing.
  assert.throws(() => pickSubnet([pool], [parseSubnet("10.0.0.0/8")]), (e) => isKind(e, "unavailable"));
  assert.throws(() => parseAddressPool("size=24"), /base is missing/);
  assert.throws(() => parseAddressPool("base=10.0.0.0/16,size=8"), /size must be/);
});

test("endpoint addresses skip the gateway and those in use, go round robin, and stay in the ip-range", () => {
  const plan = planAddresses("10.9.0.0/29");
  const used = new Set<number>();
  const a = allocateAddress(plan, used);
  assert.equal(formatIpv4(a), "10.9.0.2");
  used.add(a);
  const b = allocateAddress(plan, used, a);
  assert.equal(formatIpv4(b), "10.9.0.3");
  used.delete(a);
  // Round robin: the released .2 is not handed out again at once.
  assert.equal(formatIpv4(allocateAddress(plan, used, b)), "10.9.0.4");
  for (let i = 0; i < 5; i++) used.add(allocateAddress(plan, used));
  assert.throws(() => allocateAddress(plan, used), (e) => isKind(e, "unavailable"));
  const ranged = planAddresses("10.9.0.0/24", "10.9.0.254", "10.9.0.128/25");
  assert.equal(formatIpv4(allocateAddress(ranged, new Set())), "10.9.0.128");
  assert.throws(() => planAddresses("10.9.0.0/24", "10.8.0.1"), /not a host address/);
  assert.throws(() => planAddresses("10.9.0.0/24", undefined, "10.8.0.0/25"), /not inside subnet/);
});

test("a static address must be free and inside the subnet", () => {
  const plan = planAddresses("10.9.0.0/24");
  const used = new Set([parseIpv4("10.9.0.5") as number]);
  assert.equal(formatIpv4(claimAddress(plan, used, "10.9.0.6")), "10.9.0.6");
  assert.throws(() => claimAddress(plan, used, "10.9.0.5"), (e) => isKind(e, "conflict"));
  assert.throws(() => claimAddress(plan, used, "10.9.0.1"), /not a free host address/);
  assert.throws(() => claimAddress(plan, used, "10.9.1.5"), /not a free host address/);
});
