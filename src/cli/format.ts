// docker's formatter: `--format` values (`table`, `table TEMPLATE`, `json`,
// `raw`, a template) rendered over rows, with the header row of a table made
// by running the same template over the column names.
import { HEADER_FUNCTIONS, StructValue, Template, TemplateError, type TemplateValue } from "./template.js";
import { TABLE_LAYOUT, tabwrite } from "./units.js";
import { CliError } from "./context.js";

export const TABLE = "table";
export const RAW = "raw";
export const JSON_FORMAT = "json";
export const QUIET_FORMAT = "{{.ID}}";

export function isTable(format: string): boolean {
  return format.startsWith(TABLE);
}

/** The template text of a format, as docker derives it: `table` dropped, spaces trimmed, `\t` and `\n` unescaped. */
export function templateText(format: string): string {
  let out = format;
  if (isTable(out)) out = out.slice(TABLE.length);
  else if (out === JSON_FORMAT) out = "{{json .}}";
  out = out.replace(/^ +| +$/g, "");
  return out.replaceAll("\\t", "\t").replaceAll("\\n", "\n");
}

/** Parses a template; failures read `template parsing error: …` as docker's. */
export function parseTemplate(text: string): Template {
  try {
    return Template.parse(text);
  } catch (e) {
    if (e instanceof TemplateError) throw new CliError(`template parsing error: ${e.message}`);
    throw e;
  }
}

export function executeTemplate(tmpl: Template, data: TemplateValue, options: { missingKey?: "default" | "error" } = {}): string {
  try {
    return tmpl.execute(data, options);
  } catch (e) {
    if (e instanceof TemplateError) throw new CliError(`template parsing error: ${e.message}`);
    throw e;
  }
}

/**
 * Renders rows as docker's formatter.Context.Write does: each row through the
 * template plus a newline; for a table, a header row first (the template run
 * over `header` with functions that leave names alone), all aligned by
 * tabwriter(10, 1, 3, ' ').
 */
export function renderRows(format: string, rows: readonly StructValue[], header: Readonly<Record<string, string>>): string {
  const tmpl = parseTemplate(templateText(format));
  let body = "";
  for (const row of rows) body += executeTemplate(tmpl, row) + "\n";
  if (!isTable(format)) return body;
  let head: string;
  try {
    head = tmpl.withFunctions(HEADER_FUNCTIONS).execute({ ...header });
  } catch (e) {
    // docker ignores a failing header and keeps what was written before the failure.
    head = e instanceof TemplateError ? ((e as TemplateError & { partial?: string }).partial ?? "") : "";
  }
  return tabwrite(head + "\n" + body, TABLE_LAYOUT);
}
