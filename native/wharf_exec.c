/*
 * wharf-exec: runs one process inside a running container, as `runc exec`
 * does for a process without a terminal, in one short-lived C process
 * instead of two Go ones.
 *
 * The daemon starts it with the process's stdio on fds 0-2, the plan on fd 3
 * (NUL-separated fields, read to EOF) and a status pipe on fd 4. It joins the
 * container's namespaces through a pidfd of the container's init (checked
 * against the init's start time, so a reused pid is refused), forks, and the
 * child joins the container's cgroups, its session keyring, rlimits and
 * oom_score_adj, no_new_privs, the container's seccomp filters (the exact
 * programs the runtime loaded into the init, captured by the daemon), the
 * bounding set, user and groups, capabilities and working directory, in
 * runc's order, then finds the program on the process's PATH and execs it.
 *
 * Status lines on fd 4: `ok <pid>` once the program runs (pid on the host),
 * or `error <code> <message>` (code 126 or 127, as docker reports them) when
 * it could not start, then `exit <code>` when the program ends (128 + signal
 * for a signal). The program's stdout and stderr are pipes of the helper's,
 * which it copies to its own fds 1 and 2 until they end: should the daemon
 * go away, the copies are dropped and the program runs on, as a container's
 * processes do. The helper exits with the program's status once its output
 * has ended. It is never dumpable, so processes in the container cannot open
 * it through /proc, and the daemon runs it from a sealed copy, so nothing can
 * write to the binary it runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "procstat.h"
#include <grp.h>

#define PLAN_FD 3
#define STATUS_FD 4
#define MAX_ITEMS 4096
#define MAX_FILTERS 16

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

struct rlim {
  int resource;
  struct rlimit value;
};

struct plan {
  pid_t pid;
  unsigned long long start;
  int ns_flags;
  char *cgroups[64];
  int ncgroups;
  int has_oom;
  char *oom;
  struct rlim rlimits[32];
  int nrlimits;
  int nnp;
  uid_t uid;
  gid_t gid;
  gid_t groups[256];
  int ngroups;
  uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
  char *seccomp_file;
  char *keyring;
  char *cwd;
  char *env[MAX_ITEMS];
  int nenv;
  char *args[MAX_ITEMS];
  int nargs;
};

static int status_fd = STATUS_FD;

/* Reports a failure on the status pipe, `error <code> <message>`, and exits with the code. */
static void fail(int code, const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(status_fd, "error %d %s\n", code, msg);
  _exit(code);
}

static char *read_all(int fd, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  if (!buf) fail(126, "out of memory");
  for (;;) {
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      if (!buf) fail(126, "out of memory");
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(126, "read plan: %s", strerror(errno));
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  *len = n;
  return buf;
}

static long long num(const char *s, const char *what) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 0);
  if (errno != 0 || *s == 0 || *end != 0) fail(126, "bad plan: %s %s", what, s);
  return v;
}

static uint64_t mask(const char *s) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 16);
  if (errno != 0 || *s == 0 || *end != 0) fail(126, "bad plan: capability mask %s", s);
  return v;
}

static void parse_plan(char *buf, size_t len, struct plan *p) {
  char *items[MAX_ITEMS * 2];
  int n = 0;
  if (len == 0 || buf[len - 1] != 0) fail(126, "bad plan: not NUL-terminated");
  for (size_t i = 0; i < len && n < (int)(sizeof items / sizeof items[0]); i += strlen(buf + i) + 1) items[n++] = buf + i;
  for (int i = 0; i < n;) {
    const char *key = items[i++];
#define NEXT() (i < n ? items[i++] : (fail(126, "bad plan: %s without a value", key), (char *)NULL))
    if (strcmp(key, "pid") == 0) p->pid = (pid_t)num(NEXT(), key);
    else if (strcmp(key, "start") == 0) p->start = (unsigned long long)num(NEXT(), key);
    else if (strcmp(key, "ns") == 0) p->ns_flags = (int)num(NEXT(), key);
    else if (strcmp(key, "cgroup") == 0) {
      if (p->ncgroups == 64) fail(126, "bad plan: too many cgroups");
      p->cgroups[p->ncgroups++] = NEXT();
    } else if (strcmp(key, "oom") == 0) {
      p->has_oom = 1;
      p->oom = NEXT();
      num(p->oom, key);
    } else if (strcmp(key, "rlimit") == 0) {
      if (p->nrlimits == 32) fail(126, "bad plan: too many rlimits");
      struct rlim *r = &p->rlimits[p->nrlimits++];
      r->resource = (int)num(NEXT(), key);
      r->value.rlim_cur = (rlim_t)strtoull(NEXT(), NULL, 10);
      r->value.rlim_max = (rlim_t)strtoull(NEXT(), NULL, 10);
    } else if (strcmp(key, "nnp") == 0) p->nnp = (int)num(NEXT(), key);
    else if (strcmp(key, "uid") == 0) p->uid = (uid_t)num(NEXT(), key);
    else if (strcmp(key, "gid") == 0) p->gid = (gid_t)num(NEXT(), key);
    else if (strcmp(key, "group") == 0) {
      if (p->ngroups == 256) fail(126, "bad plan: too many groups");
      p->groups[p->ngroups++] = (gid_t)num(NEXT(), key);
    } else if (strcmp(key, "caps") == 0) {
      p->cap_bounding = mask(NEXT());
      p->cap_effective = mask(NEXT());
      p->cap_permitted = mask(NEXT());
      p->cap_inheritable = mask(NEXT());
      p->cap_ambient = mask(NEXT());
    } else if (strcmp(key, "seccomp") == 0) p->seccomp_file = NEXT();
    else if (strcmp(key, "keyring") == 0) p->keyring = NEXT();
    else if (strcmp(key, "cwd") == 0) p->cwd = NEXT();
    else if (strcmp(key, "env") == 0) {
      if (p->nenv == MAX_ITEMS - 1) fail(126, "bad plan: too many variables");
      p->env[p->nenv++] = NEXT();
    } else if (strcmp(key, "arg") == 0) {
      if (p->nargs == MAX_ITEMS - 1) fail(126, "bad plan: too many arguments");
      p->args[p->nargs++] = NEXT();
    } else fail(126, "bad plan: unknown field %s", key);
#undef NEXT
  }
  p->env[p->nenv] = NULL;
  p->args[p->nargs] = NULL;
  if (p->pid <= 0 || p->nargs == 0 || !p->cwd) fail(126, "bad plan: pid, cwd and arguments are required");
}

/* Field 22 of /proc/<pid>/stat: the process's start time, in clock ticks since boot. */
static unsigned long long start_time(pid_t pid) {
  char buf[1024];
  char *s = proc_stat_fields(pid, buf, sizeof buf);
  if (!s) return 0;
  for (int field = 3; field < 22; field++) {
    s = strchr(s, ' ');
    if (!s) return 0;
    s++;
  }
  return strtoull(s, NULL, 10);
}

/* The seccomp programs, oldest first: each a u32 count of instructions, then the instructions. */
struct filters {
  struct sock_fprog progs[MAX_FILTERS];
  int n;
};

static void read_filters(const char *file, struct filters *f) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(126, "open seccomp filters %s: %s", file, strerror(errno));
  size_t len;
  char *buf = read_all(fd, &len);
  close(fd);
  size_t off = 0;
  while (off < len) {
    uint32_t count;
    if (len - off < sizeof count || f->n == MAX_FILTERS) fail(126, "bad seccomp filters in %s", file);
    memcpy(&count, buf + off, sizeof count);
    off += sizeof count;
    if (count == 0 || count > BPF_MAXINSNS || (len - off) / sizeof(struct sock_filter) < count) fail(126, "bad seccomp filters in %s", file);
    f->progs[f->n].len = (unsigned short)count;
    f->progs[f->n].filter = (struct sock_filter *)(buf + off);
    f->n++;
    off += count * sizeof(struct sock_filter);
  }
}

static void load_filters(const struct filters *f) {
  for (int i = 0; i < f->n; i++) {
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &f->progs[i]) != 0) fail(126, "unable to start container process: error loading seccomp filter: %s", strerror(errno));
  }
}

static int cap_last(void) {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  char buf[16] = {0};
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    (void)n;
    close(fd);
  }
  int last = atoi(buf);
  return last > 0 && last < 64 ? last : CAP_LAST_CAP;
}

static void apply_bounding(const struct plan *p, int last) {
  for (int c = 0; c <= last; c++) {
    if (p->cap_bounding & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) fail(126, "unable to start container process: drop capability %d from the bounding set: %s", c, strerror(errno));
  }
}

static void apply_caps(const struct plan *p, int last) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t)(p->cap_effective >> (32 * i));
    data[i].permitted = (uint32_t)(p->cap_permitted >> (32 * i));
    data[i].inheritable = (uint32_t)(p->cap_inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) != 0) fail(126, "unable to start container process: capset: %s", strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) fail(126, "unable to start container process: clear ambient capabilities: %s", strerror(errno));
  for (int c = 0; c <= last; c++) {
    if (!(p->cap_ambient & (1ULL << c))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0) fail(126, "unable to start container process: raise ambient capability %d: %s", c, strerror(errno));
  }
}

/* The program as Go's exec.LookPath finds it with the process's PATH: 127 when it is not there. */
static const char *look_path(const struct plan *p, char *out, size_t outlen) {
  const char *file = p->args[0];
  struct stat st;
  if (strchr(file, '/')) {
    if (stat(file, &st) != 0) fail(127, "unable to start container process: exec: \"%s\": stat %s: %s", file, file, strerror(errno));
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) fail(126, "unable to start container process: exec: \"%s\": permission denied", file);
    return file;
  }
  const char *path = NULL;
  for (int i = 0; i < p->nenv; i++)
    if (strncmp(p->env[i], "PATH=", 5) == 0) path = p->env[i] + 5;
  if (path) {
    const char *dir = path;
    for (;;) {
      const char *colon = strchr(dir, ':');
      size_t dlen = colon ? (size_t)(colon - dir) : strlen(dir);
      if (dlen == 0) snprintf(out, outlen, "%s", file);
      else snprintf(out, outlen, "%.*s/%s", (int)dlen, dir, file);
      if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111)) return out;
      if (!colon) break;
      dir = colon + 1;
    }
  }
  fail(127, "unable to start container process: exec: \"%s\": executable file not found in $PATH", file);
  return NULL;
}

static void child(const struct plan *p, const int *cgroup_fds, const struct filters *filters, int report) {
  status_fd = report;
  /* The program gets the default signal handling and an empty mask, as from a fresh runtime. */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  /* Into the container's cgroups first, so everything below is accounted there. */
  char self[32];
  int selflen = snprintf(self, sizeof self, "%d", (int)getpid());
  for (int i = 0; i < p->ncgroups; i++) {
    if (write(cgroup_fds[i], self, (size_t)selflen) != selflen) fail(126, "unable to start container process: join cgroup %s: %s", p->cgroups[i], strerror(errno));
    close(cgroup_fds[i]);
  }
  /* A session keyring of the container's, never the daemon's. */
  if (p->keyring && syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, p->keyring) < 0 && errno != ENOSYS)
    fail(126, "unable to start container process: join session keyring: %s", strerror(errno));
  if (p->has_oom) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, p->oom, strlen(p->oom)) < 0) fail(126, "unable to start container process: set oom_score_adj: %s", strerror(errno));
    close(fd);
  }
  for (int i = 0; i < p->nrlimits; i++)
    if (setrlimit(p->rlimits[i].resource, &p->rlimits[i].value) != 0) fail(126, "unable to start container process: setrlimit %d: %s", p->rlimits[i].resource, strerror(errno));
  if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(126, "unable to start container process: no_new_privs: %s", strerror(errno));
  /* Without no_new_privs loading a filter needs CAP_SYS_ADMIN: before the capabilities go. */
  if (!p->nnp) load_filters(filters);
  /* Every descriptor but stdio and the report closes at exec. */
  for (int fd = 3; fd < 1024; fd++)
    if (fd != report) fcntl(fd, F_SETFD, FD_CLOEXEC);
  int last = cap_last();
  int chdir_later = 0;
  if (chdir(p->cwd) != 0) {
    if (errno != EACCES && errno != EPERM) fail(errno == ENOENT ? 127 : 126, "unable to start container process: chdir to cwd (\"%s\") set in config.json failed: %s", p->cwd, strerror(errno));
    chdir_later = 1;
  }
  apply_bounding(p, last);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail(126, "unable to start container process: keepcaps: %s", strerror(errno));
  if (setgroups((size_t)p->ngroups, p->groups) != 0) fail(126, "unable to start container process: setgroups: %s", strerror(errno));
  if (setresgid(p->gid, p->gid, p->gid) != 0) fail(126, "unable to start container process: setgid %d: %s", (int)p->gid, strerror(errno));
  if (setresuid(p->uid, p->uid, p->uid) != 0) fail(126, "unable to start container process: setuid %d: %s", (int)p->uid, strerror(errno));
  if (chdir_later && chdir(p->cwd) != 0) fail(errno == ENOENT ? 127 : 126, "unable to start container process: chdir to cwd (\"%s\") set in config.json failed: %s", p->cwd, strerror(errno));
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail(126, "unable to start container process: keepcaps: %s", strerror(errno));
  apply_caps(p, last);
  if (p->nnp) load_filters(filters);
  char found[PATH_MAX];
  const char *program = look_path(p, found, sizeof found);
  execve(program, p->args, p->env);
  fail(errno == ENOENT ? 127 : 126, "unable to start container process: exec: \"%s\": %s", p->args[0], strerror(errno));
}

/* The program's exit status as docker reports it. */
static int exit_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 126;
}

/* Writes all of buf to fd; 0 on failure (the reader went away). */
static int write_out(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 0;
    buf += w;
    len -= (size_t)w;
  }
  return 1;
}

/*
 * Copies the program's stdout and stderr (out, err) to fds 1 and 2 until
 * both end, and reports its exit on the status pipe as soon as it is
 * reaped. A copy whose reader is gone is dropped from then on, so the
 * program never meets a closed pipe. Returns the program's exit code.
 */
static int relay(int out, int err, pid_t pid) {
  int src[2] = {out, err};
  int gone[2] = {0, 0};
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int code = -1;
  static char buf[65536];
  while (src[0] >= 0 || src[1] >= 0 || code < 0) {
    struct pollfd p[3];
    int which[3];
    int n = 0;
    for (int i = 0; i < 2; i++)
      if (src[i] >= 0) {
        p[n] = (struct pollfd){.fd = src[i], .events = POLLIN};
        which[n++] = i;
      }
    if (code < 0 && pidfd >= 0) {
      p[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
      which[n++] = 2;
    }
    /* Without a pidfd the exit is looked for every 50 ms. */
    int r = poll(p, (nfds_t)n, code < 0 && pidfd < 0 ? 50 : -1);
    if (r < 0 && errno != EINTR) break;
    for (int k = 0; r > 0 && k < n; k++) {
      if (!p[k].revents || which[k] == 2) continue;
      int i = which[k];
      ssize_t got = read(src[i], buf, sizeof buf);
      if (got > 0) {
        if (!gone[i]) gone[i] = !write_out(i + 1, buf, (size_t)got);
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(src[i]);
        src[i] = -1;
      }
    }
    if (code < 0) {
      int st;
      /* Readable pidfd or not, a child that ended is reaped here; one still running is not waited for. */
      pid_t w = waitpid(pid, &st, WNOHANG);
      if (w == pid) {
        code = exit_code(st);
        dprintf(STATUS_FD, "exit %d\n", code);
        if (pidfd >= 0) close(pidfd);
      } else if (w < 0 && errno == ECHILD) {
        code = 126;
      }
    }
  }
  return code < 0 ? 126 : code;
}

int main(void) {
  /* Never dumpable: a process in the container cannot open this one's memory or executable through /proc. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) != 0) return 126;
  size_t len;
  char *buf = read_all(PLAN_FD, &len);
  close(PLAN_FD);
  static struct plan p;
  parse_plan(buf, len, &p);
  static struct filters filters;
  if (p.seccomp_file) read_filters(p.seccomp_file, &filters);

  /* The init, pinned by a pidfd, and checked to be the one the plan names. */
  int pidfd = (int)syscall(SYS_pidfd_open, p.pid, 0);
  if (pidfd < 0) fail(126, "unable to start container process: the container's init %d: %s", (int)p.pid, strerror(errno));
  if (p.start != 0 && start_time(p.pid) != p.start) fail(126, "unable to start container process: the container's init %d is gone", (int)p.pid);
  /* The cgroup files are host paths: opened before entering the container's mounts. */
  int cgroup_fds[64];
  for (int i = 0; i < p.ncgroups; i++) {
    cgroup_fds[i] = open(p.cgroups[i], O_WRONLY | O_CLOEXEC);
    if (cgroup_fds[i] < 0) fail(126, "unable to start container process: open %s: %s", p.cgroups[i], strerror(errno));
  }
  if (setns(pidfd, p.ns_flags) != 0) fail(126, "unable to start container process: join the container's namespaces: %s", strerror(errno));
  close(pidfd);

  int report[2], out[2], err[2];
  if (pipe2(report, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) fail(126, "pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) fail(126, "unable to start container process: fork: %s", strerror(errno));
  if (pid == 0) {
    close(report[0]);
    close(out[0]);
    close(err[0]);
    if (dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) fail(126, "unable to start container process: dup2: %s", strerror(errno));
    close(out[1]);
    close(err[1]);
    child(&p, cgroup_fds, &filters, report[1]);
  }
  close(report[1]);
  close(out[1]);
  close(err[1]);
  for (int i = 0; i < p.ncgroups; i++) close(cgroup_fds[i]);
  /* The program has its own stdin; the helper's copies of the output go to the daemon only through relay(). */
  signal(SIGPIPE, SIG_IGN);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 0);
    close(devnull);
  }
  /* The child's report pipe closes at its exec: nothing read means it runs. */
  char msg[4200];
  size_t got = 0;
  for (;;) {
    ssize_t r = read(report[0], msg + got, sizeof msg - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
    if (got == sizeof msg - 1) break;
  }
  close(report[0]);
  if (got == 0) {
    dprintf(STATUS_FD, "ok %d\n", (int)pid);
    return relay(out[0], err[0], pid);
  }
  close(out[0]);
  close(err[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  msg[got] = 0;
  dprintf(STATUS_FD, "%s", msg);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 126;
}
