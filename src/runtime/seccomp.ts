// The default seccomp profile: docker's allow-list (everything else fails with
// EPERM), with the rules that depend on the container's capabilities and the
// machine's architecture resolved when the spec is built, so the profile a
// container gets is exactly what it may do. runc skips names its libseccomp
// does not know, so newer system calls can stay in the list.
import type { LinuxSeccomp, SeccompArg, SeccompSyscall } from "../oci/index.js";

const words = (s: string): string[] => s.split(/\s+/).filter(Boolean);

/** Allowed for every container. */
const BASE = words(`
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1
epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2
fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat
fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait
futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid
getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom
getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64
ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self
lchown lchown32 lgetxattr link linkat listen listmount listxattr listxattrat llistxattr _llseek lremovexattr
lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir
mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync
munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv
preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename
renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask
rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr
setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall
socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync sync_file_range syncfs
sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill
truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat utimensat_time64 utimes vfork
vmsplice wait4 waitid waitpid write writev
process_vm_readv process_vm_writev ptrace
`);

/** Allowed when the container holds the capability. */
const BY_CAPABILITY: Readonly<Record<string, readonly string[]>> = {
  CAP_DAC_READ_SEARCH: ["open_by_handle_at"],
  CAP_SYS_ADMIN: words(`bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr
    lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd
    setdomainname sethostname setns syslog umount umount2 unshare`),
  CAP_SYS_BOOT: ["reboot"],
  CAP_SYS_CHROOT: ["chroot"],
  CAP_SYS_MODULE: ["delete_module", "init_module", "finit_module"],
  CAP_SYS_PACCT: ["acct"],
  CAP_SYS_PTRACE: ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
  CAP_SYS_RAWIO: ["iopl", "ioperm"],
  CAP_SYS_TIME: ["settimeofday", "stime", "clock_settime", "clock_settime64"],
  CAP_SYS_TTY_CONFIG: ["vhangup"],
  CAP_SYS_NICE: ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
  CAP_SYSLOG: ["syslog"],
  CAP_BPF: ["bpf"],
  CAP_PERFMON: ["perf_event_open"],
};

/** Allowed on these architectures only (Node's `process.arch` names). */
const BY_ARCH: Readonly<Record<string, readonly string[]>> = {
  x64: ["arch_prctl", "modify_ldt"],
  ia32: ["modify_ldt"],
  arm64: ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
  arm: ["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
  ppc64: ["sync_file_range2", "swapcontext"],
  s390x: ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"],
  riscv64: ["riscv_flush_icache"],
};

/**
 * libseccomp's architectures for each machine: the native one, then the
 * compat ABIs it can also run. Every architecture in a profile is one more
 * copy of the filter for runc to compile at each start (on x86_64 the three
 * of docker's profile cost ~20 ms of a ~50 ms create), so the compat ABIs
 * are in only for images built for them.
 */
const ARCHITECTURES: Readonly<Record<string, { readonly native: string; readonly compat: readonly string[] }>> = {
  x64: { native: "SCMP_ARCH_X86_64", compat: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
  arm64: { native: "SCMP_ARCH_AARCH64", compat: ["SCMP_ARCH_ARM"] },
  ppc64: { native: "SCMP_ARCH_PPC64LE", compat: [] },
  s390x: { native: "SCMP_ARCH_S390X", compat: ["SCMP_ARCH_S390"] },
  riscv64: { native: "SCMP_ARCH_RISCV64", compat: [] },
};

/** The namespace flags of clone(2) a container without CAP_SYS_ADMIN may not pass. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;
const AF_ALG = 38; // kernel crypto sockets stay closed: a history of bugs

const allow = (names: readonly string[], args?: SeccompArg[]): SeccompSyscall => (args ? { names: [...names], action: "SCMP_ACT_ALLOW", args } : { names: [...names], action: "SCMP_ACT_ALLOW" });

/**
 * docker's default profile for a container with `capabilities` on `arch`
 * (process.arch by default); `compat` adds the machine's compat ABIs
 * (32-bit x86 on x86_64), which docker always adds and most images never use.
 */
export function defaultSeccompProfile(capabilities: readonly string[], arch: string = process.arch, options: { compat?: boolean } = {}): LinuxSeccomp {
  const caps = new Set(capabilities);
  const syscalls: SeccompSyscall[] = [allow(BASE)];
  // socket(2): every family but AF_ALG (38) and AF_VSOCK (40).
  syscalls.push(allow(["socket"], [{ index: 0, value: AF_ALG, op: "SCMP_CMP_LT" }]));
  syscalls.push(allow(["socket"], [{ index: 0, value: AF_ALG + 1, op: "SCMP_CMP_EQ" }]));
  syscalls.push(allow(["socket"], [{ index: 0, value: AF_VSOCK, op: "SCMP_CMP_GT" }]));
  // personality(2): the Linux personalities only (PER_LINUX, PER_LINUX32, UNAME26 variants, and the query).
  for (const value of [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]) syscalls.push(allow(["personality"], [{ index: 0, value, op: "SCMP_CMP_EQ" }]));
  const archNames = BY_ARCH[arch];
  if (archNames) syscalls.push(allow(archNames));
  for (const [cap, names] of Object.entries(BY_CAPABILITY)) if (caps.has(cap)) syscalls.push(allow(names));
  if (!caps.has("CAP_SYS_ADMIN")) {
    // clone without namespace flags; s390 swaps the first two arguments.
    const index = arch === "s390x" ? 1 : 0;
    syscalls.push(allow(["clone"], [{ index, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }]));
    // clone3 hides its flags in memory seccomp cannot read: ENOSYS makes libcs fall back to clone.
    syscalls.push({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS });
  }
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    architectures: archList(arch, options.compat ?? false),
    syscalls,
  };
}

function archList(arch: string, compat: boolean): string[] {
  const a = ARCHITECTURES[arch];
  if (!a) return [];
  return compat ? [a.native, ...a.compat] : [a.native];
}

/** Whether an image for `imageArch` (OCI names: amd64, 386, arm, …) runs through a compat ABI of `hostArch`. */
export function needsCompatAbi(imageArch: string | undefined, hostArch: string = process.arch): boolean {
  if (!imageArch) return false;
  return (hostArch === "x64" && imageArch === "386") || (hostArch === "arm64" && imageArch === "arm") || (hostArch === "s390x" && imageArch === "s390");
}
