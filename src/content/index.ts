// content: the public entry of the content store — its role interfaces, the
// local implementation and the helpers over them.
export type { BlobInfo, Expected, IngestStatus, Ingester, Manager, Provider, ReaderOptions, Store, Writer } from "./content.js";
export { LocalStore, openLocalStore, type LocalStoreOptions } from "./local.js";
export { readJson, writeBlob } from "./helpers.js";
