// In-process locks: a mutex per key, and a counting semaphore. Both release
// through `using`, so an exception cannot leave them held.

export class Semaphore {
  #free: number;
  #waiting: Array<() => void> = [];
  constructor(permits: number) {
    if (permits < 1) throw new RangeError("a semaphore needs at least one permit");
    this.#free = permits;
  }
  async acquire(signal?: AbortSignal): Promise<Disposable> {
    signal?.throwIfAborted();
    if (this.#free > 0) {
      this.#free--;
    } else {
      await new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.#waiting.indexOf(grant);
          if (i !== -1) this.#waiting.splice(i, 1);
          reject(signal!.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#waiting.push(grant);
      });
    }
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        const next = this.#waiting.shift();
        if (next) next();
        else this.#free++;
      },
    };
  }
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const permit = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      permit[Symbol.dispose]();
    }
  }
}

/** One mutex per key; entries vanish when nobody holds or waits for them. */
export class KeyedMutex {
  #tails = new Map<string, Promise<void>>();
  async acquire(key: string): Promise<Disposable> {
    const prev = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.#tails.set(key, tail);
    await prev;
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        release();
        if (this.#tails.get(key) === tail) this.#tails.delete(key);
      },
    };
  }
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const lock = await this.acquire(key);
    try {
      return await fn();
    } finally {
      lock[Symbol.dispose]();
    }
  }
}
