// docker's confirmation prompt, shared by the prune and remove commands.
import { createInterface } from "node:readline";
import { write, type CliContext } from "./context.js";

/** docker's prompt: the question and ` [y/N] ` on stdout, true only for `y`/`Y`. */
export async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  await write(ctx.io.stdout, `${question} [y/N] `);
  const rl = createInterface({ input: ctx.io.stdin, terminal: false });
  try {
    for await (const line of rl) return line.trim().toLowerCase() === "y";
    return false;
  } finally {
    rl.close();
  }
}
