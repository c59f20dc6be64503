// Request bodies that are JSON documents: read whole with a cap (4 MiB, as
// every JSON document wharf reads), empty allowed where the API allows it.
import type { IncomingMessage } from "node:http";
import { wharfError } from "../internal/index.js";

const MAX_JSON_BODY = 4 * 1024 * 1024;

export async function readJsonBody(req: IncomingMessage, options: { allowEmpty?: boolean } = {}): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BODY) throw wharfError("invalid-argument", `request body is larger than ${MAX_JSON_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "" || text === "null") {
    if (options.allowEmpty) return {};
    throw wharfError("invalid-argument", "config cannot be empty in order to create a container");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw wharfError("invalid-argument", `invalid JSON body: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw wharfError("invalid-argument", "invalid JSON body: expected an object");
  return value as Record<string, unknown>;
}
