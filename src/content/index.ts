// content: the public entry of the content store — its role interfaces, the
// local implementation and the helpers over them.
export type { BlobInfo, Expected, FileProvider, IngestStatus, Ingester, Manager, Provider, ReaderOptions, Store, Writer, WriterOptions } from "./content.js";
export { isFileProvider } from "./content.js";
export { LocalStore, openLocalStore, type LocalStoreOptions } from "./local.js";
export { readJson, writeBlob } from "./helpers.js";
