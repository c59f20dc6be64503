// build: Dockerfile → image. The parser (AST), typed instructions, the
// executor with its cache, and the service POST /build calls.
export { parseDockerfile, dumpNode, type DockerfileNode, type ParseResult } from "./parser.js";
export { processWord, processWords, type Env } from "./shell.js";
export { readDockerfile, type Dockerfile, type Instruction, type Stage } from "./instructions.js";
export { IgnoreMatcher } from "./dockerignore.js";
export { Builder, type BuildLog, type BuildRequest, type BuildResult, type BuilderOptions, type ImageFetcher } from "./executor.js";
export { BuildService, type BuildOptions } from "./service.js";
