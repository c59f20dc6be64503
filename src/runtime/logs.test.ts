import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readLogs } from "./logs.js";

const line = (text: string): string => `2026-01-02T03:04:05.000000006Z stdout F ${text}\n`;

test("a follower gives each line as it is written and ends when the process stops", { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "wharf-logs-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "log");
  await writeFile(path, "");
  // The fallback timer never fires: only the watch and the stop may wake the follower.
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const follower = readLogs(path, { follow: true, stopped });
  const first = follower.next();
  await appendFile(path, line("one"));
  const a = await first;
  assert.equal(a.done, false);
  assert.equal(a.value?.data.toString(), "one\n");
  await appendFile(path, line("two"));
  const b = await follower.next();
  assert.equal(b.value?.data.toString(), "two\n");
  // The follower is in a pass (it just gave an entry) when the process stops, and nothing more is written.
  stop();
  const c = await follower.next();
  assert.equal(c.done, true);
});

test("a follower that stops drains every line and keeps stdout and stderr apart", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "wharf-logs-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "log");
  await writeFile(path, line("a") + "2026-01-02T03:04:05.1Z stderr P b" + "\n" + "2026-01-02T03:04:05.2Z stderr F c\n");
  const got: string[] = [];
  for await (const e of readLogs(path, { follow: true, stopped: Promise.resolve() })) got.push(`${e.stream}:${e.data.toString()}:${e.full}`);
  assert.deepEqual(got, ["stdout:a\n:true", "stderr:b:false", "stderr:c\n:true"]);
});

test("followers whose process stops at any point of a pass all end without their fallback timer", { timeout: 20_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "wharf-logs-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  mock.timers.enable({ apis: ["setTimeout"] });
  t.after(() => mock.timers.reset());
  const turns = (n: number): Promise<void> => (n <= 0 ? Promise.resolve() : new Promise((r) => setImmediate(() => void turns(n - 1).then(r))));
  // A process with no output (`exec … true`): the only wake-up is the stop.
  const runs = Array.from({ length: 40 }, async (_, i) => {
    const path = join(dir, `log${i}`);
    await writeFile(path, "");
    const stopped = turns(i);
    const got = [];
    for await (const e of readLogs(path, { follow: true, stopped })) got.push(e);
    return got.length;
  });
  assert.deepEqual(await Promise.all(runs), Array(40).fill(0));
});
