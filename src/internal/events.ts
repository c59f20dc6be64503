// The engine's event log (`/events`): every action on a container, image,
// volume or network, kept in a bounded ring for `since` queries and pushed to
// live subscribers. Events are facts about the past; publishing never fails.

export interface EngineEvent {
  /** `container`, `image`, `volume`, `network`, `daemon`. */
  readonly Type: string;
  /** `create`, `start`, `die`, `destroy`, `tag`, `delete`… */
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes: Readonly<Record<string, string>> };
  readonly scope: "local";
  /** Unix seconds. */
  readonly time: number;
  /** Unix nanoseconds. */
  readonly timeNano: number;
}

export type EventListener = (e: EngineEvent) => void;

export class EventBus {
  readonly #ring: EngineEvent[] = [];
  readonly #listeners = new Set<EventListener>();
  readonly #capacity: number;

  constructor(capacity = 1024) {
    this.#capacity = capacity;
  }

  publish(type: string, action: string, id: string, attributes: Record<string, string> = {}): void {
    const nowNs = BigInt(Date.now()) * 1_000_000n + BigInt(Number(process.hrtime.bigint() % 1_000_000n));
    const e: EngineEvent = { Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: "local", time: Number(nowNs / 1_000_000_000n), timeNano: Number(nowNs) };
    this.#ring.push(e);
    if (this.#ring.length > this.#capacity) this.#ring.shift();
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Events kept so far, oldest first. */
  past(): readonly EngineEvent[] {
    return [...this.#ring];
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
