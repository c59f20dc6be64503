import { test } from "node:test";
import assert from "node:assert/strict";
import { WharfError } from "../internal/index.js";
import { parseDaemonArgs, parseHost, type DaemonConfig } from "./config.js";

function run(argv: string[]): DaemonConfig {
  const inv = parseDaemonArgs(argv);
  assert.equal(inv.kind, "run");
  return (inv as { config: DaemonConfig }).config;
}

const refused = (argv: string[], message: RegExp) =>
  assert.throws(() => parseDaemonArgs(argv), (e: unknown) => e instanceof WharfError && e.kind === "invalid-argument" && message.test(e.message) && !e.message.includes("\n"));

test("no flags give the documented defaults", () => {
  assert.deepEqual(run([]), {
    dataRoot: "/var/lib/wharf",
    execRoot: "/run/wharf",
    sockets: ["/run/wharf/wharf.sock"],
    pidfile: "/run/wharf/wharfd.pid",
    logLevel: "info",
    debug: false,
    runtimes: { runc: "runc" },
    defaultRuntime: "runc",
    network: { pools: [], ipForward: false },
    registries: { mirrors: [], insecure: [], certsDir: "/etc/wharf/certs.d" },
  });
});

test("network flags: bridge, bip, repeatable address pools, mtu, ip-forward", () => {
  const c = run(["--bridge", "wt0", "--bip=10.5.0.1/24", "--default-address-pool", "base=10.6.0.0/16,size=24", "--default-address-pool", "base=10.7.0.0/16", "--mtu", "1400", "--ip-forward"]);
  assert.deepEqual(c.network, { bridge: "wt0", bip: "10.5.0.1/24", pools: ["base=10.6.0.0/16,size=24", "base=10.7.0.0/16"], mtu: 1400, ipForward: true });
  assert.equal(run(["--ip-forward=false"]).network?.ipForward, false);
  refused(["--bridge", "a-name-far-too-long"], /invalid --bridge/);
  refused(["--bip", "10.5.0.1"], /invalid --bip/);
  refused(["--default-address-pool", "10.0.0.0/8"], /invalid --default-address-pool/);
  refused(["--mtu", "big"], /invalid --mtu/);
  assert.equal(run(["--ip", "127.0.0.1"]).network?.defaultBindIp, "127.0.0.1");
  assert.equal(run([]).network?.defaultBindIp, undefined);
  refused(["--ip", "256.1.1.1"], /invalid --ip/);
  refused(["--ip=localhost"], /invalid --ip/);
});


test("registry flags repeat and are checked", () => {
  const c = run(["--registry-mirror", "https://mirror.example:5000/", "--insecure-registry", "10.0.0.0/8", "--insecure-registry=reg.local:5000", "--certs-dir", "/tmp/certs"]);
  assert.deepEqual(c.registries, { mirrors: ["https://mirror.example:5000"], insecure: ["10.0.0.0/8", "reg.local:5000"], certsDir: "/tmp/certs" });
  assert.throws(() => parseDaemonArgs(["--registry-mirror", "ftp://x"]), /invalid registry mirror/);
  assert.throws(() => parseDaemonArgs(["--insecure-registry", "10.0.0.0/99"]), /invalid insecure registry/);
});

test("the pid file follows the exec root unless given", () => {
  assert.equal(run(["--exec-root", "/tmp/x"]).pidfile, "/tmp/x/wharfd.pid");
  assert.equal(run(["--exec-root=/tmp/x", "-p", "/tmp/p.pid"]).pidfile, "/tmp/p.pid");
});

test("flags take their value as the next argument, after =, or glued to a shorthand", () => {
  const c = run(["--data-root=/d", "--exec-root", "/e", "-H", "unix:///a.sock", "--host=unix:///b.sock", "-Hunix:///c.sock", "-H=unix:///a.sock", "--pidfile", "/p", "-l", "warn"]);
  assert.equal(c.dataRoot, "/d");
  assert.equal(c.execRoot, "/e");
  assert.deepEqual(c.sockets, ["/a.sock", "/b.sock", "/c.sock"]);
  assert.equal(c.pidfile, "/p");
  assert.equal(c.logLevel, "warn");
});

test("-D and --debug turn on debug logging", () => {
  assert.deepEqual([run(["-D"]).logLevel, run(["-D"]).debug], ["debug", true]);
  assert.equal(run(["--debug", "--log-level", "error"]).logLevel, "debug");
  assert.equal(run(["--debug=false"]).debug, false);
});

test("relative roots are made absolute", () => {
  assert.equal(run(["--data-root", "data"]).dataRoot, `${process.cwd()}/data`);
});

test("help and version are recognised in either spelling", () => {
  for (const f of ["-h", "--help"]) assert.equal(parseDaemonArgs([f]).kind, "help");
  for (const f of ["-v", "--version"]) assert.equal(parseDaemonArgs([f]).kind, "version");
});

test("unknown flags, missing values and arguments are refused in one line", () => {
  refused(["--bogus"], /^unknown flag: --bogus$/);
  refused(["-x"], /^unknown shorthand flag: "x" in -x$/);
  refused(["--data-root"], /^flag needs an argument: --data-root$/);
  refused(["serve"], /accepts no arguments/);
  refused(["--log-level", "loud"], /invalid log level "loud"/);
  refused(["--debug=maybe"], /invalid argument "maybe" for --debug/);
});

test("TCP hosts are refused because TLS is not available yet", () => {
  refused(["-H", "tcp://0.0.0.0:2375"], /TCP is served only with TLS/);
  refused(["-H", "0.0.0.0:2375"], /TCP is served only with TLS/);
  refused(["-H", "fd://"], /unsupported scheme "fd"/);
  refused(["-H", "unix://relative.sock"], /must be absolute/);
  assert.equal(parseHost("unix:///run/x.sock"), "/run/x.sock");
});

test("--add-runtime registers runtimes by name and --default-runtime picks one of them", () => {
  const c = run(["--add-runtime", "traced=/usr/local/bin/traced-runc", "--add-runtime=crun=crun", "--default-runtime", "traced"]);
  assert.deepEqual(c.runtimes, { runc: "runc", traced: "/usr/local/bin/traced-runc", crun: "crun" });
  assert.equal(c.defaultRuntime, "traced");
  assert.equal(run([]).defaultRuntime, "runc");
  refused(["--add-runtime", "nopath"], /invalid --add-runtime "nopath": expected name=path/);
  refused(["--add-runtime", "runc=/opt/other"], /"runc" is reserved/);
  refused(["--default-runtime", "missing"], /no such runtime/);
});

test("--registry-addr and --registry-config turn on the daemon's registry; the address is checked", () => {
  assert.equal(run([]).registry, undefined);
  assert.deepEqual(run(["--registry-addr", "127.0.0.1:5000"]).registry, { addr: "127.0.0.1:5000" });
  assert.deepEqual(run(["--registry-config", "/etc/wharf/registry.json"]).registry, { configFile: "/etc/wharf/registry.json" });
  refused(["--registry-addr", "localhost"], /invalid --registry-addr/);
});
