// Query parameters as dockerd reads them, turned into typed values once per
// request: Go-style booleans, repeated parameters, and the `filters` JSON in
// both of its shapes.
import { wharfError } from "../internal/index.js";

/**
 * dockerd's boolean: false for empty, `0`, `no`, `false`, `none` (any case),
 * true for anything else. docker-py sends `False`, dockerode `false`, the CLI `1`.
 */
export function parseBool(value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  return !(v === "" || v === "0" || v === "no" || v === "false" || v === "none");
}

/** The query string of one request. */
export class Query {
  readonly #params: URLSearchParams;

  constructor(search: string | URLSearchParams) {
    this.#params = typeof search === "string" ? new URLSearchParams(search) : search;
  }

  has(name: string): boolean {
    return this.#params.has(name);
  }

  /** The first value, as Go's `r.Form.Get` returns it; undefined when absent. */
  string(name: string): string | undefined {
    return this.#params.get(name) ?? undefined;
  }

  /** Every value of a repeated parameter (`names=a&names=b`). */
  strings(name: string): string[] {
    return this.#params.getAll(name);
  }

  bool(name: string): boolean {
    return parseBool(this.string(name));
  }

  /** A whole number; absent → undefined, anything else malformed → invalid-argument. */
  int(name: string): number | undefined {
    const v = this.string(name);
    if (v === undefined || v === "") return undefined;
    if (!/^-?\d+$/.test(v)) throw wharfError("invalid-argument", `invalid value for ${name}: ${JSON.stringify(v)} is not an integer`);
    return Number(v);
  }

  filters(name = "filters"): Filters {
    return Filters.parse(this.string(name) ?? "");
  }
}

/** Parsed `filters`: each key with its set of values. */
export class Filters {
  readonly #fields: ReadonlyMap<string, readonly string[]>;

  private constructor(fields: ReadonlyMap<string, readonly string[]>) {
    this.#fields = fields;
  }

  static readonly empty = new Filters(new Map());

  /**
   * Accepts `{"dangling":["true"]}` and the older `{"dangling":{"true":true}}`
   * that docker CLIs still send; an empty string means no filters.
   */
  static parse(json: string): Filters {
    if (json.trim() === "") return Filters.empty;
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch (e) {
      throw wharfError("invalid-argument", `invalid filters ${JSON.stringify(json)}: ${(e as Error).message}`);
    }
    if (raw === null) return Filters.empty;
    if (typeof raw !== "object" || Array.isArray(raw)) throw wharfError("invalid-argument", `invalid filters ${JSON.stringify(json)}: expected a JSON object`);
    const fields = new Map<string, string[]>();
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      const values: string[] = [];
      if (Array.isArray(value)) {
        for (const v of value) {
          if (typeof v !== "string") throw wharfError("invalid-argument", `invalid filters ${JSON.stringify(json)}: values of ${JSON.stringify(key)} must be strings`);
          values.push(v);
        }
      } else if (typeof value === "object" && value !== null) {
        for (const [v, on] of Object.entries(value as Record<string, unknown>)) {
          if (typeof on !== "boolean") throw wharfError("invalid-argument", `invalid filters ${JSON.stringify(json)}: values of ${JSON.stringify(key)} must map to true`);
          if (on) values.push(v);
        }
      } else if (value !== null) {
        throw wharfError("invalid-argument", `invalid filters ${JSON.stringify(json)}: ${JSON.stringify(key)} must be a list or a map`);
      }
      fields.set(key, [...new Set(values)]);
    }
    return new Filters(fields);
  }

  /** Builds filters from values, for tests and callers that compose them. */
  static of(fields: Record<string, readonly string[]>): Filters {
    return new Filters(new Map(Object.entries(fields)));
  }

  has(key: string): boolean {
    return this.#fields.has(key);
  }

  keys(): string[] {
    return [...this.#fields.keys()];
  }

  values(key: string): readonly string[] {
    return this.#fields.get(key) ?? [];
  }

  /** The single value of a key that takes one (`before`, `until`); more than one is refused. */
  single(key: string): string | undefined {
    const v = this.values(key);
    if (v.length > 1) throw invalidFilter(key, v);
    return v[0];
  }

  /** dockerd refuses keys a route does not know: `Invalid filter 'foo'`. */
  validate(accepted: readonly string[]): void {
    for (const key of this.#fields.keys()) if (!accepted.includes(key)) throw invalidFilter(key);
  }

  /**
   * A boolean filter such as `dangling`: undefined when absent. `true` wins
   * when both are given, as dockerd checks `true` first.
   */
  bool(key: string, accepted: { true: readonly string[]; false: readonly string[] } = { true: ["true", "1"], false: ["false", "0"] }): boolean | undefined {
    const v = this.values(key);
    if (!this.has(key)) return undefined;
    if (v.some((x) => accepted.true.includes(x))) return true;
    if (v.some((x) => accepted.false.includes(x))) return false;
    throw invalidFilter(key, v);
  }
}

export function invalidFilter(key: string, values?: readonly string[]): Error {
  return wharfError("invalid-argument", values === undefined ? `Invalid filter '${key}'` : `Invalid filter '${key}=[${values.join(" ")}]'`);
}
