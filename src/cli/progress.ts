// JSON progress streams (load, import, pull, push) shown as docker shows
// them: one line per message on a pipe; on a terminal, one line per layer id
// rewritten in place as its progress changes.
import type { Writable } from "node:stream";
import type { JsonMessage } from "../api/wire.js";
import { write } from "./context.js";

function hasProgress(m: JsonMessage): boolean {
  return (m.progress !== undefined && m.progress !== "") || (m.progressDetail !== undefined && (m.progressDetail.current !== undefined || m.progressDetail.total !== undefined));
}

/** One message as a line, or undefined when docker shows nothing for it. */
export function messageLine(m: JsonMessage, isTerminal: boolean): string | undefined {
  if (m.aux !== undefined && m.status === undefined && m.stream === undefined) return undefined;
  if (!isTerminal && hasProgress(m) && m.stream === undefined) return undefined;
  let line = m.id ? `${m.id}: ` : "";
  if (isTerminal && hasProgress(m)) line += `${m.status ?? ""} ${m.progress ?? ""}`;
  else if (m.stream !== undefined) return line + m.stream;
  else line += `${m.status ?? ""}\n`;
  return line;
}

export async function displayJsonMessages(messages: AsyncIterable<JsonMessage>, out: Writable, isTerminal: boolean): Promise<void> {
  // Lines by id, counted from the top of what we printed, so a later message
  // about the same layer can move the cursor back to its line.
  const lineOf = new Map<string, number>();
  let lines = 0;
  for await (const m of messages) {
    const text = messageLine(m, isTerminal);
    if (text === undefined) continue;
    if (!isTerminal || !m.id || m.stream !== undefined) {
      await write(out, text);
      lines += (text.match(/\n/g) ?? []).length;
      continue;
    }
    const known = lineOf.get(m.id);
    const body = text.endsWith("\n") ? text.slice(0, -1) : text;
    if (known === undefined) {
      lineOf.set(m.id, lines);
      lines++;
      await write(out, `\x1b[2K\r${body}\n`);
    } else {
      const up = lines - known;
      await write(out, `\x1b[${up}A\x1b[2K\r${body}\x1b[${up}B\r`);
    }
  }
}
