// `GET /events`: the engine's events as a JSON stream, past ones from `since`,
// live ones until `until` or until the client leaves, filtered as docker does
// (type, event/action, container, image, label, volume, network).
import type { EngineEvent, EventBus } from "../../internal/index.js";
import type { Filters } from "../query.js";
import type { Router } from "../router.js";
import { parseTimeParam } from "./containers.js";

const EVENT_FILTERS = ["type", "event", "container", "image", "label", "volume", "network", "daemon", "plugin", "scope", "config", "node", "secret", "service"];

export function eventMatches(e: EngineEvent, f: Filters): boolean {
  const any = (key: string, test: (v: string) => boolean): boolean => {
    const vs = f.values(key);
    return vs.length === 0 || vs.some(test);
  };
  const name = e.Actor.Attributes["name"] ?? "";
  if (!any("type", (v) => v === e.Type)) return false;
  if (!any("event", (v) => v === e.Action || e.Action.startsWith(`${v}:`))) return false;
  if (!any("container", (v) => e.Type === "container" && (e.Actor.ID.startsWith(v) || name === v))) return false;
  if (!any("image", (v) => (e.Type === "image" && (e.Actor.ID === v || name === v)) || (e.Type === "container" && e.Actor.Attributes["image"] === v))) return false;
  if (!any("volume", (v) => e.Type === "volume" && e.Actor.ID === v)) return false;
  if (!any("network", (v) => e.Type === "network" && (e.Actor.ID.startsWith(v) || name === v))) return false;
  if (!any("scope", (v) => v === e.scope)) return false;
  for (const l of f.values("label")) {
    const i = l.indexOf("=");
    const key = i < 0 ? l : l.slice(0, i);
    if (!(key in e.Actor.Attributes)) return false;
    if (i >= 0 && e.Actor.Attributes[key] !== l.slice(i + 1)) return false;
  }
  return true;
}

/** docker's wire form: the old `status`/`id`/`from` members next to the new ones. */
function wire(e: EngineEvent): Record<string, unknown> {
  const old = e.Type === "container" || e.Type === "image" ? { status: e.Action, id: e.Actor.ID, ...(e.Type === "container" && e.Actor.Attributes["image"] ? { from: e.Actor.Attributes["image"] } : {}) } : {};
  return { ...old, Type: e.Type, Action: e.Action, Actor: e.Actor, scope: e.scope, time: e.time, timeNano: e.timeNano };
}

export function eventRoutes(router: Router, events: EventBus): void {
  router.on("GET", "/events", async (ctx) => {
    const f = ctx.query.filters();
    f.validate(EVENT_FILTERS);
    const since = parseTimeParam(ctx.query.string("since"), "since");
    const until = parseTimeParam(ctx.query.string("until"), "until");
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const inRange = (e: EngineEvent) => (since === undefined || BigInt(e.timeNano) >= since) && (until === undefined || BigInt(e.timeNano) <= until);
    ctx.res.writeHead(200, { "Content-Type": "application/json" });
    ctx.res.flushHeaders();
    const send = (e: EngineEvent) => {
      if (inRange(e) && eventMatches(e, f)) ctx.res.write(JSON.stringify(wire(e)) + "\n");
    };
    // Subscribe first, so nothing falls between the past and the live stream.
    const live: EngineEvent[] = [];
    let replaying = true;
    const unsubscribe = events.subscribe((e) => (replaying ? live.push(e) : send(e)));
    try {
      if (since !== undefined) for (const e of events.past()) send(e);
      replaying = false;
      for (const e of live) send(e);
      if (until !== undefined && until <= nowNs) {
        ctx.res.end();
        return;
      }
      await new Promise<void>((resolve) => {
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
        if (until !== undefined) setTimeout(resolve, Number((until - nowNs) / 1_000_000n)).unref();
      });
      ctx.res.end();
    } finally {
      unsubscribe();
    }
  });
}
