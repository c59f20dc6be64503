import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventBus, isKind, nullLogger } from "../internal/index.js";
import { discardPlanned, planMounts } from "./plan.js";
import { resolveInRoot } from "./resolve.js";
import { VolumeStore } from "./store.js";
import type { PlannedMount } from "./types.js";
import { unmount } from "../snapshot/index.js";

describe("VolumeStore", () => {
  let root: string;
  const users = new Map<string, string[]>();
  const open = () => VolumeStore.open({ dataRoot: root, events: new EventBus(), logger: nullLogger, usage: (n) => users.get(n) ?? [] });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-volume-store-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("create makes the data dir and a record; a second create of the name returns the first", async () => {
    const store = await open();
    const v = await store.create({ name: "data", labels: { a: "b" } });
    assert.equal(v.Mountpoint, join(root, "volumes", "data", "_data"));
    assert.ok(existsSync(v.Mountpoint));
    assert.deepEqual(v.Labels, { a: "b" });
    assert.deepEqual(v.Options, {});
    assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const again = await store.create({ name: "data", labels: { other: "x" } });
    assert.deepEqual(again, v);
    const anon = await store.create({ anonymous: true });
    assert.match(anon.Name, /^[0-9a-f]{64}$/);
    assert.equal(anon.Anonymous, true);
    assert.equal(anon.Options, null);
    await store.remove(anon.Name);
  });

  test("bad names, unknown drivers and unknown options are refused and make nothing", async () => {
    const store = await open();
    const before = await readdir(join(root, "volumes"));
    await assert.rejects(store.create({ name: "a/b" }), (e) => isKind(e, "invalid-argument") && /invalid characters/.test((e as Error).message));
    await assert.rejects(store.create({ name: "x" }), (e) => isKind(e, "invalid-argument"));
    await assert.rejects(store.create({ name: "drv", driver: "nfs-plugin" }), (e) => isKind(e, "not-found") && /plugin "nfs-plugin" not found/.test((e as Error).message));
    await assert.rejects(store.create({ name: "opt", driverOpts: { colour: "red" } }), (e) => isKind(e, "invalid-argument") && /invalid option key/.test((e as Error).message));
    await assert.rejects(store.create({ name: "opt", driverOpts: { type: "nfs" } }), (e) => isKind(e, "invalid-argument") && /device/.test((e as Error).message));
    assert.deepEqual(await readdir(join(root, "volumes")), before);
  });

  test("list filters by name, label, dangling and driver", async () => {
    const store = await open();
    await store.create({ name: "alpha", labels: { team: "a", tier: "db" } });
    await store.create({ name: "beta", labels: { team: "b" } });
    users.set("alpha", ["c1"]);
    const names = (f: Parameters<VolumeStore["list"]>[0]) => store.list(f).map((v) => v.Name).filter((n) => n !== "data");
    assert.deepEqual(names({}), ["alpha", "beta"]);
    assert.deepEqual(names({ name: ["alp"] }), ["alpha"]);
    assert.deepEqual(names({ label: ["team"] }), ["alpha", "beta"]);
    assert.deepEqual(names({ label: ["team=a", "tier=db"] }), ["alpha"]);
    assert.deepEqual(names({ label: ["team=c"] }), []);
    assert.deepEqual(names({ dangling: true }), ["beta"]);
    assert.deepEqual(names({ dangling: false }), ["alpha"]);
    assert.deepEqual(names({ driver: ["local"] }), ["alpha", "beta"]);
    assert.deepEqual(names({ driver: ["other"] }), []);
    users.delete("alpha");
  });

  test("a volume in use cannot be removed; force forgives only a missing one", async () => {
    const store = await open();
    await store.create({ name: "busy" });
    users.set("busy", ["c1", "c2"]);
    await assert.rejects(store.remove("busy", { force: true }), (e) => isKind(e, "conflict") && /volume is in use - \[c1, c2\]/.test((e as Error).message));
    users.delete("busy");
    await store.remove("busy");
    assert.equal(store.has("busy"), false);
    assert.ok(!existsSync(join(root, "volumes", "busy")));
    await assert.rejects(store.remove("busy"), (e) => isKind(e, "not-found"));
    await store.remove("busy", { force: true });
  });

  test("prune removes the unused volumes the filters select and counts their bytes", async () => {
    const store = await open();
    await store.create({ name: "keep-me", labels: { keep: "yes" } });
    await store.create({ name: "used" });
    await writeFile(join(store.mountpoint("beta"), "file"), "12345");
    users.set("used", ["c1"]);
    const r = await store.prune({ labelNot: ["keep"] });
    assert.ok(r.deleted.includes("beta"));
    assert.ok(!r.deleted.includes("keep-me"));
    assert.ok(!r.deleted.includes("used"));
    assert.ok(r.spaceReclaimed >= 5);
    users.delete("used");
  });

  test("a volume mounted by its options stays mounted while a running container holds it", { skip: process.getuid?.() !== 0 && "needs root to mount" }, async () => {
    const store = await open();
    const v = await store.create({ name: "scratch", driverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m" } });
    const mounted = async () => (await readFile("/proc/self/mounts", "utf8")).split("\n").some((l) => l.split(" ")[1] === v.Mountpoint);
    const use: PlannedMount[] = [{ Type: "volume", Name: "scratch", Source: v.Mountpoint, Destination: "/s", Mode: "z", RW: true, Propagation: "", NoCopy: true }];
    try {
      await store.prepareStart(use, root, "a");
      await store.prepareStart(use, root, "b");
      assert.equal(await mounted(), true);
      await writeFile(join(v.Mountpoint, "kept"), "while held");
      await store.releaseStop(use, "a");
      assert.equal(await readFile(join(v.Mountpoint, "kept"), "utf8"), "while held", "b still holds it");
      // A new daemon finds b running: b holds it again, and an exit it learns of (a's) lets nothing go.
      const next = await open();
      next.adoptRunning(use, "b");
      await next.releaseStop(use, "a");
      await next.releaseUnheld();
      assert.equal(await mounted(), true);
      await next.releaseStop(use, "b");
      assert.equal(await mounted(), false, "unmounted with its last holder");
      // Mounted with nobody running: the next daemon's start unmounts it.
      await next.prepareStart(use, root, "c");
      const third = await open();
      await third.releaseUnheld();
      assert.equal(await mounted(), false);
      await third.remove("scratch");
    } finally {
      while (await mounted()) await unmount(v.Mountpoint);
    }
  });

  test("startup keeps every volume: records reload, and a directory without one is adopted, never deleted", async () => {
    await mkdir(join(root, "volumes", "orphan", "_data"), { recursive: true });
    await writeFile(join(root, "volumes", "orphan", "_data", "precious"), "data");
    const store = await open();
    assert.ok(store.has("keep-me"));
    assert.ok(store.has("orphan"));
    assert.equal(await readFile(join(store.mountpoint("orphan"), "precious"), "utf8"), "data");
    assert.deepEqual(store.get("keep-me").Labels, { keep: "yes" });
  });
});

describe("planMounts", () => {
  let root: string;
  let store: VolumeStore;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-volume-plan-"));
    store = await VolumeStore.open({ dataRoot: root, events: new EventBus(), logger: nullLogger, usage: () => [] });
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("-v binds, named volumes, modes and declared volumes, as dockerd shows them", async () => {
    const host = join(root, "host-dir");
    const mounts = await planMounts(store, { Binds: [`${host}:/h:ro,rslave`, "named:/n:nocopy"], Tmpfs: { "/t": "size=1m" } }, { "/declared": {}, "/n": {} });
    assert.deepEqual(mounts, [
      { Type: "bind", Source: host, Destination: "/h", Mode: "ro,rslave", RW: false, Propagation: "rslave" },
      { Type: "volume", Name: "named", Source: store.mountpoint("named"), Destination: "/n", Driver: "local", Mode: "nocopy", RW: true, Propagation: "", NoCopy: true },
      { Type: "tmpfs", Source: "", Destination: "/t", Mode: "", RW: true, Propagation: "" },
      { Type: "volume", Name: mounts[3]!.Name!, Source: store.mountpoint(mounts[3]!.Name!), Destination: "/declared", Driver: "local", Mode: "", RW: true, Propagation: "", Anonymous: true },
    ]);
    assert.ok(existsSync(host), "a -v host path that is missing is made");
    assert.equal(store.get(mounts[3]!.Name!).Anonymous, true);
    await discardPlanned(store, mounts);
    assert.equal(store.has(mounts[3]!.Name!), false);
    assert.equal(store.has("named"), true, "named volumes stay");
  });

  test("--mount entries: bind needs an existing source; volume options and labels apply to a new volume", async () => {
    await assert.rejects(planMounts(store, { Binds: null, Mounts: [{ Type: "bind", Source: join(root, "absent"), Target: "/x" }] }, null), /bind source path does not exist/);
    const mounts = await planMounts(store, { Binds: null, Mounts: [{ Type: "volume", Source: "labelled", Target: "/v", ReadOnly: true, VolumeOptions: { NoCopy: true, Labels: { a: "b" } } }, { Type: "bind", Source: root, Target: "/b", BindOptions: { Propagation: "shared" } }] }, null);
    assert.equal(mounts[0]!.RW, false);
    assert.equal(mounts[0]!.NoCopy, true);
    assert.deepEqual(store.get("labelled").Labels, { a: "b" });
    assert.equal(mounts[1]!.Propagation, "shared");
  });

  test("bad input changes nothing: no volume is made when a later mount is wrong", async () => {
    const count = store.list().length;
    await assert.rejects(planMounts(store, { Binds: ["fresh-one:/a", "relative/path:/b"] }, null), /invalid characters/);
    await assert.rejects(planMounts(store, { Binds: ["fresh-one:/a"], Mounts: [{ Type: "tmpfs", Target: "/a" }] }, null), /Duplicate mount point: \/a/);
    await assert.rejects(planMounts(store, { Binds: ["fresh-one:/a", "/x:relative"] }, null), /must be absolute/);
    await assert.rejects(planMounts(store, { Binds: ["fresh-one:/"] }, null), /destination can't be '\/'/);
    await assert.rejects(planMounts(store, { Binds: ["fresh-one:/a:bogus"] }, null), /invalid mode: bogus/);
    await assert.rejects(planMounts(store, { Binds: null, Mounts: [{ Type: "nope", Target: "/a" }] }, null), /mount type unknown/);
    assert.equal(store.list().length, count);
    assert.equal(store.has("fresh-one"), false);
  });
});

describe("resolveInRoot", () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "wharf-resolve-"));
    await mkdir(join(root, "etc"), { recursive: true });
    await writeFile(join(root, "etc", "passwd"), "root");
    await symlink("/etc", join(root, "abs"));
    await symlink("../../../../etc", join(root, "rel"));
    await symlink("loop2", join(root, "loop1"));
    await symlink("loop1", join(root, "loop2"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("absolute and climbing symlinks stay inside the root", async () => {
    assert.deepEqual(await resolveInRoot(root, "/abs/passwd"), { host: join(root, "etc", "passwd"), inContainer: "/etc/passwd", exists: true });
    assert.deepEqual(await resolveInRoot(root, "/rel/passwd"), { host: join(root, "etc", "passwd"), inContainer: "/etc/passwd", exists: true });
    assert.deepEqual(await resolveInRoot(root, "../../etc/../abs"), { host: join(root, "etc"), inContainer: "/etc", exists: true });
  });

  test("keepLast leaves the last symlink; a missing tail is kept as given", async () => {
    assert.deepEqual(await resolveInRoot(root, "/abs", { keepLast: true }), { host: join(root, "abs"), inContainer: "/abs", exists: true });
    assert.deepEqual(await resolveInRoot(root, "/abs/missing/x"), { host: join(root, "etc", "missing", "x"), inContainer: "/etc/missing/x", exists: false });
  });

  test("a symlink loop is refused", async () => {
    await assert.rejects(resolveInRoot(root, "/loop1/x"), /too many levels of symbolic links/);
  });
});
