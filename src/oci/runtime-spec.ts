// The OCI runtime spec (config.json of a bundle), the members wharf writes.
// Field names and shapes as runtime-spec v1.0.2 defines them.

export interface RuntimeSpec {
  ociVersion: string;
  process: RuntimeProcess;
  root: { path: string; readonly?: boolean };
  hostname?: string;
  domainname?: string;
  mounts: RuntimeMount[];
  hooks?: Record<string, { path: string; args?: string[]; env?: string[]; timeout?: number }[]>;
  annotations?: Record<string, string>;
  linux: RuntimeLinux;
}

export interface RuntimeUser {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface RuntimeRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface RuntimeProcess {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: RuntimeUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: { bounding?: string[]; effective?: string[]; permitted?: string[]; inheritable?: string[]; ambient?: string[] };
  rlimits?: RuntimeRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface RuntimeMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface LinuxNamespace {
  type: "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup";
  path?: string;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: "a" | "c" | "b";
  major?: number;
  minor?: number;
  access?: string;
}

export interface LinuxDevice {
  path: string;
  type: "c" | "b" | "u" | "p";
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: { limit?: number; reservation?: number; swap?: number; swappiness?: number; disableOOMKiller?: boolean };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
  blockIO?: { weight?: number };
}

export type SeccompAction = "SCMP_ACT_KILL" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_TRAP" | "SCMP_ACT_ERRNO" | "SCMP_ACT_TRACE" | "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG";

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE" | "SCMP_CMP_EQ" | "SCMP_CMP_GE" | "SCMP_CMP_GT" | "SCMP_CMP_MASKED_EQ";
}

export interface SeccompSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: SeccompSyscall[];
}

export interface RuntimeLinux {
  namespaces: LinuxNamespace[];
  resources?: LinuxResources;
  cgroupsPath?: string;
  devices?: LinuxDevice[];
  seccomp?: LinuxSeccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  sysctl?: Record<string, string>;
  rootfsPropagation?: string;
}
