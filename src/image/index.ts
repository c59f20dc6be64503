// image: the image store and the service the API serves.
export * from "./service.js";
export { ImageStore, type ImageStoreOptions, type NewImage } from "./store.js";
export { applyChanges } from "./changes.js";
export { globMatch } from "./filters.js";
import { ImageStore, type ImageStoreOptions } from "./store.js";

export function openImageStore(options: ImageStoreOptions): Promise<ImageStore> {
  return ImageStore.open(options);
}
