// Image list filters, as `docker images --filter` applies them.
import { familiarName, familiarString } from "../oci/index.js";
import type { ImageFilters, ImageView } from "./service.js";

/** Go's path.Match: `*` and `?` never cross `/`; `[...]` classes with ranges and `^`/`!`. */
export function globMatch(pattern: string, text: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end === -1) return false;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith("^") || cls.startsWith("!")) cls = "^" + cls.slice(1);
      re += `[${cls.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) re += "\\" + pattern[++i];
    else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  try {
    return new RegExp(re + "$").test(text);
  } catch {
    return false;
  }
}

function matchesReference(image: ImageView, patterns: readonly string[]): boolean {
  return patterns.some((pattern) =>
    [...image.tags, ...image.digests].some((ref) => globMatch(pattern, familiarString(ref)) || globMatch(pattern, familiarName(ref))),
  );
}

function matchesLabels(image: ImageView, labels: readonly string[]): boolean {
  const have = image.config.config?.Labels ?? {};
  return labels.every((l) => {
    const eq = l.indexOf("=");
    if (eq === -1) return l in have;
    return have[l.slice(0, eq)] === l.slice(eq + 1);
  });
}

export function createdAt(image: ImageView): number {
  const t = image.config.created ? Date.parse(image.config.created) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/**
 * Keeps the images every filter accepts. `before`/`since` name images that
 * the caller resolved already (their creation times are passed in).
 */
export function filterImages(images: readonly ImageView[], filters: ImageFilters, bounds: { before?: number; since?: number } = {}): ImageView[] {
  return images.filter((image) => {
    if (filters.dangling !== undefined && (image.tags.length === 0) !== filters.dangling) return false;
    if (filters.reference?.length && !matchesReference(image, filters.reference)) return false;
    if (filters.label?.length && !matchesLabels(image, filters.label)) return false;
    const created = createdAt(image);
    if (bounds.before !== undefined && !(created < bounds.before)) return false;
    if (bounds.since !== undefined && !(created > bounds.since)) return false;
    return true;
  });
}
