// archive: the public entry — layer apply and diff, tar streams, compression.
export type { ApplyOptions, ApplyResult, ApplySizes } from "./archive.js";
export { applyLayer } from "./apply.js";
export { diffDirectory, type DiffOptions } from "./diff.js";
export { compress, decompress, detectCompression } from "./compression.js";
export { readTar, writeTar, encodeTar, TarParser, type TarEntry, type TarInput, type TarSink, type TarHeader, type TarHeaderInit, type EntryType } from "./tar.js";
export { OPAQUE_MARKER, WHITEOUT_PREFIX } from "./paths.js";
