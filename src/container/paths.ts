// Where a container's files live. Records, logs and small files under the
// data root (they outlive reboots); the runtime bundle, conmon's sockets and
// fifos, and the exit files under the exec root (a tmpfs: gone at reboot,
// as the processes are).
import { join } from "node:path";

export class ContainerPaths {
  constructor(
    readonly dataRoot: string,
    readonly execRoot: string,
  ) {}

  get containersDir(): string {
    return join(this.dataRoot, "containers");
  }
  get bundlesDir(): string {
    return join(this.execRoot, "containers");
  }
  /** conmon writes `<id>` here when a container's process ends. */
  get exitDir(): string {
    return join(this.execRoot, "exits");
  }
  get runtimeRoot(): string {
    return join(this.execRoot, "runc");
  }
  dir(id: string): string {
    return join(this.containersDir, id);
  }
  record(id: string): string {
    return join(this.dir(id), "container.json");
  }
  rootfs(id: string): string {
    return join(this.dir(id), "rootfs");
  }
  log(id: string): string {
    return join(this.dir(id), "container.log");
  }
  hostname(id: string): string {
    return join(this.dir(id), "hostname");
  }
  hosts(id: string): string {
    return join(this.dir(id), "hosts");
  }
  resolvConf(id: string): string {
    return join(this.dir(id), "resolv.conf");
  }
  /** conmon's persist dir: `exit` and `oom`. */
  persist(id: string): string {
    return this.dir(id);
  }
  bundle(id: string): string {
    return join(this.bundlesDir, id);
  }
  exitFile(id: string): string {
    return join(this.exitDir, id);
  }
  execDir(id: string, execId: string): string {
    return join(this.bundle(id), "exec", execId);
  }
}
