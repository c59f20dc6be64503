// oci: the standards' types and parsers. Imports nothing of wharf's.
export * from "./digest.js";
export * from "./mediatype.js";
export * from "./descriptor.js";
export * from "./platform.js";
export * from "./reference.js";
export * from "./config.js";
export * from "./runtime-spec.js";
