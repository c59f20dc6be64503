/*
 * wharf_sys: the Linux system calls Node lacks, and nothing else.
 *
 * Synchronous: mount (also from a given working directory), umount2, mknod,
 * the l*xattr family, chroot, making a file, a sealed copy of a file, a pipe,
 * ext4's top-directory flag. On the thread pool, each one job: an atomic file
 * write, a new network namespace, reading files inside a root, letting a
 * created container's init go, a removal with its directory's fsync, a
 * content-store commit and a new ingest directory, reading a process's seccomp
 * programs, a hash updated together with the write of its bytes, and the rest
 * of a layer's small files. From a thread of its own each: spawning a program,
 * sending a file to a socket, keeping the cgroup migration lock ready. All take
 * plain values and fail with an Error carrying `code` (the errno name) and
 * `syscall`, as Node's fs does, so callers handle both alike. */
#define _GNU_SOURCE
#include <node_api.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <linux/filter.h>
#include <unistd.h>
#include <spawn.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <sys/sendfile.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <limits.h>
#include "procstat.h"
#include "netlink.h"
#include <arpa/inet.h>

#define PATH_BUF 4096
#define NAME_BUF 256

static const char *errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ELOOP: return "ELOOP";
    case ENODATA: return "ENODATA";
    case ENOTSUP: return "ENOTSUP";
    case E2BIG: return "E2BIG";
    case ERANGE: return "ERANGE";
    case EDQUOT: return "EDQUOT";
    case ENOSYS: return "ENOSYS";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EPIPE: return "EPIPE";
    case ENOTCONN: return "ENOTCONN";
    case ENOMEM: return "ENOMEM";
    case ECANCELED: return "ECANCELED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EAGAIN: return "EAGAIN";
    case EFBIG: return "EFBIG";
    case ESRCH: return "ESRCH";
    default: return "EUNKNOWN";
  }
}

static napi_value errno_error(napi_env env, int e, const char *syscall, const char *path) {
  char msg[PATH_BUF + 128];
  snprintf(msg, sizeof msg, "%s: %s, %s '%s'", errno_name(e), strerror(e), syscall, path ? path : "");
  napi_value message, error, code, sc, no, p;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_create_int32(env, -e, &no);
  napi_set_named_property(env, error, "code", code);
  napi_set_named_property(env, error, "syscall", sc);
  napi_set_named_property(env, error, "errno", no);
  if (path) {
    napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &p);
    napi_set_named_property(env, error, "path", p);
  }
  return error;
}

static napi_value throw_errno(napi_env env, int e, const char *syscall, const char *path) {
  napi_throw(env, errno_error(env, e, syscall, path));
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/* Reads argument i as a UTF-8 string into buf; empty-or-null allowed when nullable. */
static int get_str(napi_env env, napi_value v, char *buf, size_t len, int nullable, int *is_null) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (nullable && (t == napi_null || t == napi_undefined)) {
    if (is_null) *is_null = 1;
    buf[0] = 0;
    return 1;
  }
  if (is_null) *is_null = 0;
  if (t != napi_string) return 0;
  size_t n;
  if (napi_get_value_string_utf8(env, v, buf, len, &n) != napi_ok) return 0;
  return n < len - 1;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

/* mount(source, target, fstype, flags, data) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5) return throw_type(env, "mount(source, target, fstype, flags, data)");
  char source[PATH_BUF], target[PATH_BUF], fstype[NAME_BUF];
  int null_fstype = 0, null_data = 0;
  if (!get_str(env, argv[0], source, sizeof source, 1, NULL) ||
      !get_str(env, argv[1], target, sizeof target, 0, NULL) ||
      !get_str(env, argv[2], fstype, sizeof fstype, 1, &null_fstype))
    return throw_type(env, "mount: bad string argument");
  double flags;
  if (napi_get_value_double(env, argv[3], &flags) != napi_ok) return throw_type(env, "mount: flags must be a number");
  /* overlay option strings can be long: size the buffer to the value. */
  size_t dlen = 0;
  napi_valuetype dt;
  napi_typeof(env, argv[4], &dt);
  char *data = NULL;
  if (dt == napi_string) {
    napi_get_value_string_utf8(env, argv[4], NULL, 0, &dlen);
    data = malloc(dlen + 1);
    if (!data) return throw_errno(env, ENOMEM, "mount", target);
    napi_get_value_string_utf8(env, argv[4], data, dlen + 1, &dlen);
  } else {
    null_data = 1;
  }
  int rc = mount(source[0] ? source : NULL, target, null_fstype ? NULL : fstype, (unsigned long)flags,
                 null_data ? NULL : data);
  int e = errno;
  free(data);
  if (rc != 0) return throw_errno(env, e, "mount", target);
  return undefined(env);
}

/*
 * mountIn(dir, source, target, fstype, flags, data): mount with `dir` as the
 * working directory, so overlay options can name layers by short relative
 * paths and more layers fit in the one page the kernel reads options from.
 * The process's working directory is restored before returning.
 */
static napi_value js_mount_in(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) return throw_type(env, "mountIn(dir, source, target, fstype, flags, data)");
  char dir[PATH_BUF], source[PATH_BUF], target[PATH_BUF], fstype[NAME_BUF];
  if (!get_str(env, argv[0], dir, sizeof dir, 0, NULL) || !get_str(env, argv[1], source, sizeof source, 0, NULL) ||
      !get_str(env, argv[2], target, sizeof target, 0, NULL) || !get_str(env, argv[3], fstype, sizeof fstype, 0, NULL))
    return throw_type(env, "mountIn: bad string argument");
  double flags;
  if (napi_get_value_double(env, argv[4], &flags) != napi_ok) return throw_type(env, "mountIn: flags must be a number");
  size_t dlen = 0;
  napi_get_value_string_utf8(env, argv[5], NULL, 0, &dlen);
  char *data = malloc(dlen + 1);
  if (!data) return throw_errno(env, ENOMEM, "mount", target);
  napi_get_value_string_utf8(env, argv[5], data, dlen + 1, &dlen);
  int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cwd < 0) {
    free(data);
    return throw_errno(env, errno, "open", ".");
  }
  if (chdir(dir) != 0) {
    int e = errno;
    close(cwd);
    free(data);
    return throw_errno(env, e, "chdir", dir);
  }
  int rc = mount(source, target, fstype, (unsigned long)flags, data);
  int e = errno;
  if (fchdir(cwd) != 0) { /* the old directory vanished: nothing better to do */ }
  close(cwd);
  free(data);
  if (rc != 0) return throw_errno(env, e, "mount", target);
  return undefined(env);
}

/* umount2(target, flags) */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char target[PATH_BUF];
  if (argc < 2 || !get_str(env, argv[0], target, sizeof target, 0, NULL)) return throw_type(env, "umount2(target, flags)");
  int32_t flags;
  if (napi_get_value_int32(env, argv[1], &flags) != napi_ok) return throw_type(env, "umount2: flags must be a number");
  if (umount2(target, flags) != 0) return throw_errno(env, errno, "umount2", target);
  return undefined(env);
}

/* mknod(path, mode, major, minor): mode includes the file type bits. */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  if (argc < 4 || !get_str(env, argv[0], path, sizeof path, 0, NULL)) return throw_type(env, "mknod(path, mode, major, minor)");
  uint32_t mode, maj, min;
  if (napi_get_value_uint32(env, argv[1], &mode) != napi_ok || napi_get_value_uint32(env, argv[2], &maj) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &min) != napi_ok)
    return throw_type(env, "mknod: mode, major and minor must be numbers");
  if (mknod(path, (mode_t)mode, makedev(maj, min)) != 0) return throw_errno(env, errno, "mknod", path);
  return undefined(env);
}

/* lsetxattr(path, name, value: Buffer) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF], name[NAME_BUF];
  if (argc < 3 || !get_str(env, argv[0], path, sizeof path, 0, NULL) || !get_str(env, argv[1], name, sizeof name, 0, NULL))
    return throw_type(env, "lsetxattr(path, name, value)");
  void *data;
  size_t len;
  bool is_buf;
  napi_is_buffer(env, argv[2], &is_buf);
  if (!is_buf || napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) return throw_type(env, "lsetxattr: value must be a Buffer");
  if (lsetxattr(path, name, data, len, 0) != 0) return throw_errno(env, errno, "lsetxattr", path);
  return undefined(env);
}

/* lgetxattr(path, name) -> Buffer | null when the attribute is absent */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF], name[NAME_BUF];
  if (argc < 2 || !get_str(env, argv[0], path, sizeof path, 0, NULL) || !get_str(env, argv[1], name, sizeof name, 0, NULL))
    return throw_type(env, "lgetxattr(path, name)");
  char buf[65536];
  ssize_t n = lgetxattr(path, name, buf, sizeof buf);
  if (n < 0) {
    if (errno == ENODATA || errno == ENOTSUP) {
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    return throw_errno(env, errno, "lgetxattr", path);
  }
  napi_value out;
  void *dst;
  napi_create_buffer_copy(env, (size_t)n, buf, &dst, &out);
  return out;
}

/* llistxattr(path) -> string[] (empty when the filesystem has none) */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  if (argc < 1 || !get_str(env, argv[0], path, sizeof path, 0, NULL)) return throw_type(env, "llistxattr(path)");
  char buf[65536];
  ssize_t n = llistxattr(path, buf, sizeof buf);
  napi_value arr;
  napi_create_array(env, &arr);
  if (n < 0) {
    if (errno == ENOTSUP) return arr;
    return throw_errno(env, errno, "llistxattr", path);
  }
  uint32_t idx = 0;
  for (ssize_t off = 0; off < n;) {
    size_t l = strlen(buf + off);
    napi_value s;
    napi_create_string_utf8(env, buf + off, l, &s);
    napi_set_element(env, arr, idx++, s);
    off += (ssize_t)l + 1;
  }
  return arr;
}

/* lremovexattr(path, name); absent attributes are not an error */
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF], name[NAME_BUF];
  if (argc < 2 || !get_str(env, argv[0], path, sizeof path, 0, NULL) || !get_str(env, argv[1], name, sizeof name, 0, NULL))
    return throw_type(env, "lremovexattr(path, name)");
  if (lremovexattr(path, name) != 0 && errno != ENODATA) return throw_errno(env, errno, "lremovexattr", path);
  return undefined(env);
}

/* createFile(path, mode) → fd: a new regular file, opened write-only; never
 * an existing name, never through a final symlink (O_EXCL | O_NOFOLLOW),
 * close-on-exec. Unlike fs.openSync in a worker thread, the fd is not
 * recorded as the worker's, so finishFiles may close it on the thread pool. */
static napi_value js_create_file(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  uint32_t mode = 0;
  if (argc < 2 || !get_str(env, argv[0], path, sizeof path, 0, NULL) || napi_get_value_uint32(env, argv[1], &mode) != napi_ok || mode > 07777)
    return throw_type(env, "createFile(path, mode)");
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
  if (fd < 0) return throw_errno(env, errno, "open", path);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

/* A write-only connection to a SOCK_SEQPACKET unix socket (conmon's attach
 * socket), which libuv cannot open. The read side is shut at once so the
 * peer never blocks writing output nobody reads; the caller writes with
 * fs.write and closes with fs.close. */
static napi_value js_seqpacket_connect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (argc < 1 || !get_str(env, argv[0], addr.sun_path, sizeof addr.sun_path, 0, NULL))
    return throw_type(env, "seqpacketConnect(path)");
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", addr.sun_path);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "connect", addr.sun_path);
  }
  shutdown(fd, SHUT_RD);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

/* markTopDir(path) → boolean: gives the directory the file system's "top
 * of a hierarchy" flag (FS_TOPDIR_FL, chattr +T), so that ext4's Orlov
 * allocator spreads the directories made in it over the disk instead of
 * packing each next to its siblings. false where the file system has no such
 * flag; other failures throw. */
static napi_value js_mark_top_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  if (argc < 1 || !get_str(env, argv[0], path, sizeof path, 0, NULL)) return throw_type(env, "markTopDir(path: string)");
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", path);
  int flags = 0;
  int r = ioctl(fd, FS_IOC_GETFLAGS, &flags);
  if (r == 0 && !(flags & FS_TOPDIR_FL)) {
    flags |= FS_TOPDIR_FL;
    r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
  }
  int e = errno;
  close(fd);
  napi_value result;
  if (r != 0 && e != ENOTTY && e != ENOTSUP && e != EOPNOTSUPP && e != EINVAL) return throw_errno(env, e, "ioctl", path);
  napi_get_boolean(env, r == 0, &result);
  return result;
}

/* chroot(path): makes `path` this process's root and working directory.
 * Only for a short-lived helper process (container/copy-worker): every later
 * path, symlink target and `..` then resolves inside that root. */
static napi_value js_chroot(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  if (argc < 1 || !get_str(env, argv[0], path, sizeof path, 0, NULL)) return throw_type(env, "chroot(path)");
  if (chdir(path) != 0) return throw_errno(env, errno, "chdir", path);
  if (chroot(".") != 0) return throw_errno(env, errno, "chroot", path);
  if (chdir("/") != 0) return throw_errno(env, errno, "chdir", "/");
  return undefined(env);
}

/* Starts `fn(arg)` on a detached thread with a stack of `stack` bytes: 0 or the errno. */
static int start_detached(void *(*fn)(void *), void *arg, size_t stack) {
  pthread_attr_t pa;
  pthread_attr_init(&pa);
  pthread_attr_setdetachstate(&pa, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&pa, stack);
  pthread_t thread;
  int e = pthread_create(&thread, &pa, fn, arg);
  pthread_attr_destroy(&pa);
  return e;
}

/* Queues `job` on the thread pool; the promise it returns is settled by `complete`. */
static napi_value queue_job(napi_env env, const char *name, napi_async_execute_callback execute, napi_async_complete_callback complete, void *job, napi_async_work *work, napi_deferred *deferred) {
  napi_value promise, label;
  napi_create_promise(env, deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &label);
  napi_create_async_work(env, NULL, label, execute, complete, job, work);
  napi_queue_async_work(env, *work);
  return promise;
}

/* The start of a job's entry point: its `n` arguments into argv and the job
 * itself, zeroed; NULL, with the usage (or ENOMEM) thrown, when fewer
 * arguments came or there is no memory. */
static void *job_begin(napi_env env, napi_callback_info info, size_t n, napi_value *argv, size_t size, const char *usage) {
  size_t argc = n;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < n) {
    throw_type(env, usage);
    return NULL;
  }
  void *job = calloc(1, size);
  if (!job) throw_errno(env, ENOMEM, "calloc", NULL);
  return job;
}

/* writev until every part is down, resuming inside a part after a short write; 0 or the errno. */
#define WRITE_ALL_MAX_PARTS 1024

static int write_all(int fd, struct iovec *parts, int nparts, const char **syscall) {
  struct iovec iov[WRITE_ALL_MAX_PARTS];
  memcpy(iov, parts, sizeof(struct iovec) * (size_t)nparts);
  struct iovec *cur = iov;
  int left = nparts;
  while (left > 0) {
    if (cur->iov_len == 0) {
      cur++;
      left--;
      continue;
    }
    ssize_t n = writev(fd, cur, left > IOV_MAX ? IOV_MAX : left);
    if (n < 0) {
      if (errno == EINTR) continue;
      *syscall = "write";
      return errno;
    }
    size_t done = (size_t)n;
    while (left > 0 && done >= cur->iov_len) {
      done -= cur->iov_len;
      cur++;
      left--;
    }
    if (left > 0) {
      cur->iov_base = (char *)cur->iov_base + done;
      cur->iov_len -= done;
    }
  }
  return 0;
}

/* What a job's failure was: errno, the call, the path. */
struct job_error {
  int err;
  const char *syscall;
  const char *failed_path;
};

/* Records errno as the job's failure; returns -1. */
static int job_fail(struct job_error *e, const char *syscall, const char *path) {
  e->err = errno;
  e->syscall = syscall;
  e->failed_path = path;
  return -1;
}

/* Settles a finished job's promise: with `value` (undefined when NULL) when
 * it did its work, else with its failure as an errno error (ECANCELED from
 * `name` when the work never ran). */
static void job_settle(napi_env env, napi_status status, napi_deferred deferred, const struct job_error *e, const char *name, napi_value value) {
  if (status == napi_ok && e->err == 0) napi_resolve_deferred(env, deferred, value ? value : undefined(env));
  else if (e->err == 0) napi_reject_deferred(env, deferred, errno_error(env, ECANCELED, name, NULL));
  else napi_reject_deferred(env, deferred, errno_error(env, e->err, e->syscall, e->failed_path));
}

/* The directory that holds path (path must have a slash). */
static void parent_of(const char *path, char *out) {
  memcpy(out, path, PATH_BUF);
  char *slash = strrchr(out, '/');
  if (slash == out) slash[1] = 0;
  else if (slash) *slash = 0;
}

/* fsyncs the directory holding path, so that a name made in it lasts; -1 (recorded in e, naming path) on failure. */
static int fsync_parent(const char *path, struct job_error *e) {
  char dir[PATH_BUF];
  parent_of(path, dir);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r = dfd < 0 || fsync(dfd) != 0 ? job_fail(e, dfd < 0 ? "open" : "fsync", path) : 0;
  if (dfd >= 0) close(dfd);
  return r;
}

/* Frees a settled job: the reference holding the values it read (when any), its work, itself. */
static void job_free(napi_env env, napi_async_work work, napi_ref ref, void *job) {
  if (ref) napi_delete_reference(env, ref);
  napi_delete_async_work(env, work);
  free(job);
}

/* writeFileAtomic(path, tmp, data, mode, flags) → Promise<void>: writes data
 * to tmp (created, never an existing file), optionally fsyncs it (flags & 1),
 * renames it over path and optionally fsyncs the directory (flags & 2); on
 * failure tmp is removed. All of it runs in one job on the thread pool, so a
 * durable write costs the daemon one hop instead of eight. */
#define ATOMIC_SYNC_FILE 1
#define ATOMIC_SYNC_DIR 2

struct atomic_job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref data_ref;
  char path[PATH_BUF];
  char tmp[PATH_BUF];
  const char *data;
  size_t len;
  int mode;
  int flags;
  struct job_error e;
};

static void atomic_execute(napi_env env, void *arg) {
  (void)env;
  struct atomic_job *job = arg;
  int fd = open(job->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, job->mode);
  if (fd < 0) {
    job_fail(&job->e, "open", job->tmp);
    return;
  }
  struct iovec part = {(void *)job->data, job->len};
  const char *call = NULL;
  int err = write_all(fd, &part, 1, &call);
  if (err != 0) {
    errno = err;
    job_fail(&job->e, call, job->tmp);
  }
  if (job->e.err == 0 && (job->flags & ATOMIC_SYNC_FILE) && fsync(fd) != 0) job_fail(&job->e, "fsync", job->tmp);
  if (close(fd) != 0 && job->e.err == 0) job_fail(&job->e, "close", job->tmp);
  if (job->e.err == 0 && rename(job->tmp, job->path) != 0) job_fail(&job->e, "rename", job->tmp);
  if (job->e.err != 0) {
    unlink(job->tmp);
    return;
  }
  if (job->flags & ATOMIC_SYNC_DIR) fsync_parent(job->path, &job->e);
}

static void atomic_complete(napi_env env, napi_status status, void *arg) {
  struct atomic_job *job = arg;
  job_settle(env, status, job->deferred, &job->e, "writeFileAtomic", NULL);
  job_free(env, job->work, job->data_ref, job);
}

static napi_value js_write_file_atomic(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  struct atomic_job *job = job_begin(env, info, 5, argv, sizeof *job, "writeFileAtomic(path, tmp, data, mode, flags)");
  if (!job) return NULL;
  bool is_buffer = false;
  void *data = NULL;
  int32_t mode = 0, flags = 0;
  if (!get_str(env, argv[0], job->path, sizeof job->path, 0, NULL) || !get_str(env, argv[1], job->tmp, sizeof job->tmp, 0, NULL) ||
      napi_is_buffer(env, argv[2], &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, argv[2], &data, &job->len) != napi_ok ||
      napi_get_value_int32(env, argv[3], &mode) != napi_ok || napi_get_value_int32(env, argv[4], &flags) != napi_ok) {
    free(job);
    return throw_type(env, "writeFileAtomic(path: string, tmp: string, data: Buffer, mode: number, flags: number)");
  }
  job->data = data;
  job->mode = mode;
  job->flags = flags;
  /* The buffer stays alive (and unmoved) until the job completes. */
  napi_create_reference(env, argv[2], 1, &job->data_ref);
  return queue_job(env, "wharf:writeFileAtomic", atomic_execute, atomic_complete, job, &job->work, &job->deferred);
}

/* readInRoot(root, paths, maxBytes) → Promise<(Buffer | null)[]>: regular
 * files of a root file system, each path resolved as a process chrooted
 * there would see it (openat2 with RESOLVE_IN_ROOT: `..`, absolute and
 * relative symlinks all stay inside root; no magic links). null for a path
 * that is absent or not a regular file; nothing else (a FIFO, a device) is
 * ever opened for reading. A file larger than maxBytes fails the job with
 * EFBIG. One job on the thread pool for all of them. */
#define READ_IN_ROOT_MAX 8

#ifndef RESOLVE_IN_ROOT
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT 0x10
#endif

struct open_how_compat {
  uint64_t flags;
  uint64_t mode;
  uint64_t resolve;
};

struct read_root_job {
  napi_async_work work;
  napi_deferred deferred;
  char root[PATH_BUF];
  int npaths;
  char paths[READ_IN_ROOT_MAX][PATH_BUF];
  size_t max_bytes;
  char *data[READ_IN_ROOT_MAX];
  size_t len[READ_IN_ROOT_MAX];
  int found[READ_IN_ROOT_MAX];
  struct job_error e;
};

/* One file into job->data[i]; 0 (found or not), -1 on failure (recorded). */
static int read_root_file(struct read_root_job *job, int rootfd, int i) {
  struct open_how_compat how = {O_PATH | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int pfd;
  do pfd = (int)syscall(SYS_openat2, rootfd, job->paths[i], &how, sizeof how);
  while (pfd < 0 && errno == EAGAIN);
  if (pfd < 0) return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : job_fail(&job->e, "openat2", job->paths[i]);
  struct stat st;
  if (fstat(pfd, &st) != 0) {
    job_fail(&job->e, "fstat", job->paths[i]);
    close(pfd);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    close(pfd);
    return 0;
  }
  if ((size_t)st.st_size > job->max_bytes) {
    errno = EFBIG;
    job_fail(&job->e, "read", job->paths[i]);
    close(pfd);
    return -1;
  }
  /* The O_PATH descriptor names the very file checked: it is reopened for reading through /proc. */
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
  int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  close(pfd);
  if (fd < 0) return job_fail(&job->e, "open", job->paths[i]);
  size_t cap = (size_t)st.st_size + 1, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    close(fd);
    errno = ENOMEM;
    return job_fail(&job->e, "malloc", job->paths[i]);
  }
  for (;;) {
    if (len == cap) {
      if (cap > job->max_bytes) {
        errno = EFBIG;
        break;
      }
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        errno = ENOMEM;
        break;
      }
      buf = bigger;
      cap *= 2;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (n == 0) {
      close(fd);
      if (len > job->max_bytes) {
        free(buf);
        errno = EFBIG;
        return job_fail(&job->e, "read", job->paths[i]);
      }
      job->data[i] = buf;
      job->len[i] = len;
      job->found[i] = 1;
      return 0;
    }
    len += (size_t)n;
  }
  job_fail(&job->e, "read", job->paths[i]);
  free(buf);
  close(fd);
  return -1;
}

static void read_root_execute(napi_env env, void *arg) {
  (void)env;
  struct read_root_job *job = arg;
  int rootfd = open(job->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) {
    job_fail(&job->e, "open", job->root);
    return;
  }
  for (int i = 0; i < job->npaths; i++)
    if (read_root_file(job, rootfd, i) != 0) break;
  close(rootfd);
}

static void read_root_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void read_root_complete(napi_env env, napi_status status, void *arg) {
  struct read_root_job *job = arg;
  napi_value result = NULL;
  if (status == napi_ok && job->e.err == 0) {
    napi_create_array_with_length(env, (size_t)job->npaths, &result);
    for (int i = 0; i < job->npaths; i++) {
      napi_value v;
      if (!job->found[i]) napi_get_null(env, &v);
      else if (napi_create_external_buffer(env, job->len[i], job->data[i], read_root_finalize, NULL, &v) == napi_ok) job->data[i] = NULL;
      else napi_get_null(env, &v);
      napi_set_element(env, result, (uint32_t)i, v);
    }
  }
  job_settle(env, status, job->deferred, &job->e, "readInRoot", result);
  for (int i = 0; i < job->npaths; i++) free(job->data[i]);
  job_free(env, job->work, NULL, job);
}

static napi_value js_read_in_root(napi_env env, napi_callback_info info) {
  static const char *usage = "readInRoot(root: string, paths: string[], maxBytes: number)";
  napi_value argv[3];
  struct read_root_job *job = job_begin(env, info, 3, argv, sizeof *job, usage);
  if (!job) return NULL;
  uint32_t n = 0;
  int64_t max = 0;
  bool ok = get_str(env, argv[0], job->root, sizeof job->root, 0, NULL) && napi_get_array_length(env, argv[1], &n) == napi_ok && n <= READ_IN_ROOT_MAX &&
            napi_get_value_int64(env, argv[2], &max) == napi_ok && max >= 0;
  for (uint32_t i = 0; ok && i < n; i++) {
    napi_value path;
    ok = napi_get_element(env, argv[1], i, &path) == napi_ok && get_str(env, path, job->paths[i], sizeof job->paths[i], 0, NULL) && job->paths[i][0] != 0;
  }
  if (!ok) {
    free(job);
    return throw_type(env, usage);
  }
  job->npaths = (int)n;
  job->max_bytes = (size_t)max;
  return queue_job(env, "wharf:readInRoot", read_root_execute, read_root_complete, job, &job->work, &job->deferred);
}

/* releaseInit(fifo, pid, timeoutMs) → Promise<number>: what `runc start`
 * does for a created container, in one job on the thread pool. The init
 * waits to open its exec FIFO for writing; the FIFO is opened for reading
 * (which lets the init's open through), its bytes are read to the end (the
 * init writes one, then runs the process), and it is removed. Resolves with
 * the bytes read: 0 when the init left without writing; -1 when there is no
 * FIFO at that path (not a runc container, or started already), which is
 * left alone. Rejects with ESRCH when the init (pid, when > 0) dies before it
 * opens its end, ETIMEDOUT after timeoutMs. */
struct release_job {
  napi_async_work work;
  napi_deferred deferred;
  char fifo[PATH_BUF];
  pid_t pid;
  int timeout_ms;
  int64_t result;
  struct job_error e;
};

/* Whether pid is there and not a zombie. */
static int process_runs(pid_t pid) {
  char buf[512];
  const char *state = proc_stat_fields(pid, buf, sizeof buf);
  return state && *state != 'Z' && *state != 'X';
}

static void release_execute(napi_env env, void *arg) {
  (void)env;
  struct release_job *job = arg;
  int fd = open(job->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) job->result = -1;
    else job_fail(&job->e, "open", job->fifo);
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    job_fail(&job->e, "fstat", job->fifo);
    close(fd);
    return;
  }
  if (!S_ISFIFO(st.st_mode)) {
    job->result = -1;
    close(fd);
    return;
  }
  int64_t total = 0;
  int waited = 0;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, 100);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      job_fail(&job->e, "poll", job->fifo);
      break;
    }
    if (r == 0) {
      /* No writer yet: the init may be gone, or slow. */
      waited += 100;
      if (job->pid > 0 && !process_runs(job->pid)) {
        errno = ESRCH;
        job_fail(&job->e, "open", job->fifo);
        break;
      }
      if (job->timeout_ms > 0 && waited >= job->timeout_ms) {
        errno = ETIMEDOUT;
        job_fail(&job->e, "poll", job->fifo);
        break;
      }
      continue;
    }
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      total += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) continue;
    if (n < 0) {
      job_fail(&job->e, "read", job->fifo);
      break;
    }
    /* End of file: the init wrote and closed (or closed without writing). */
    job->result = total;
    break;
  }
  close(fd);
  if (job->e.err == 0 && unlink(job->fifo) != 0 && errno != ENOENT) job_fail(&job->e, "unlink", job->fifo);
}

static void release_complete(napi_env env, napi_status status, void *arg) {
  struct release_job *job = arg;
  napi_value v;
  napi_create_int64(env, job->result, &v);
  job_settle(env, status, job->deferred, &job->e, "releaseInit", v);
  job_free(env, job->work, NULL, job);
}

static napi_value js_release_init(napi_env env, napi_callback_info info) {
  static const char *usage = "releaseInit(fifo: string, pid: number, timeoutMs: number)";
  napi_value argv[3];
  struct release_job *job = job_begin(env, info, 3, argv, sizeof *job, usage);
  if (!job) return NULL;
  int32_t pid = 0, timeout = 0;
  if (!get_str(env, argv[0], job->fifo, sizeof job->fifo, 0, NULL) || napi_get_value_int32(env, argv[1], &pid) != napi_ok || napi_get_value_int32(env, argv[2], &timeout) != napi_ok) {
    free(job);
    return throw_type(env, usage);
  }
  job->pid = pid;
  job->timeout_ms = timeout;
  return queue_job(env, "wharf:releaseInit", release_execute, release_complete, job, &job->work, &job->deferred);
}

/* A job on the one path its entry point takes: its struct, completion and queueing, shared. */
struct path_job {
  napi_async_work work;
  napi_deferred deferred;
  const char *name;
  char path[PATH_BUF];
  struct job_error e;
};

static void path_job_complete(napi_env env, napi_status status, void *arg) {
  struct path_job *job = arg;
  job_settle(env, status, job->deferred, &job->e, job->name, NULL);
  job_free(env, job->work, NULL, job);
}

/* Queues `execute` on the path given as the one argument (with a directory in it when `in_dir`). */
static napi_value queue_path_job(napi_env env, napi_callback_info info, const char *name, const char *label, const char *usage, napi_async_execute_callback execute, int in_dir) {
  napi_value argv[1];
  struct path_job *job = job_begin(env, info, 1, argv, sizeof *job, usage);
  if (!job) return NULL;
  if (!get_str(env, argv[0], job->path, sizeof job->path, 0, NULL) || (in_dir && !strchr(job->path, '/'))) {
    free(job);
    return throw_type(env, usage);
  }
  job->name = name;
  return queue_job(env, label, execute, path_job_complete, job, &job->work, &job->deferred);
}

/* netnsCreate(path) → Promise<void>: a new, empty network namespace bound
 * at `path` (a file, made when missing), as `unshare --net=path` makes one,
 * without a process. One job on the thread pool, which starts a thread of
 * its own to enter the namespace and bind it (the pool's threads, like the
 * daemon's others, never leave theirs) and waits for it. */
static void *netns_thread(void *arg) {
  struct path_job *job = arg;
  if (unshare(CLONE_NEWNET) != 0) {
    job_fail(&job->e, "unshare", job->path);
    return NULL;
  }
  char self[64];
  snprintf(self, sizeof self, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
  if (mount(self, job->path, NULL, MS_BIND, NULL) != 0) job_fail(&job->e, "mount", job->path);
  return NULL;
}

static void netns_execute(napi_env env, void *arg) {
  (void)env;
  struct path_job *job = arg;
  /* The file the namespace is bound on: made here if it is not there. */
  int fd = open(job->path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0444);
  if (fd < 0) {
    job_fail(&job->e, "open", job->path);
    return;
  }
  close(fd);
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, netns_thread, job);
  if (rc != 0) {
    errno = rc;
    job_fail(&job->e, "pthread_create", job->path);
    return;
  }
  pthread_join(thread, NULL);
}

static napi_value js_netns_create(napi_env env, napi_callback_info info) {
  return queue_path_job(env, info, "netnsCreate", "wharf:netnsCreate", "netnsCreate(path: string)", netns_execute, 0);
}

/* netnsWire(path, links, gateway, loopback) → Promise<void>: the namespace
 * bound at `path` wired over rtnetlink in one job (native/netlink.c): `lo`
 * up when `loopback`; per link ({ifName, hostIf, bridge, address, prefix,
 * mac, mtu}) a veth pair whose host end goes to the daemon's namespace, the
 * address, the link up, then the host end onto its bridge, up; the default
 * route via `gateway` (null: none). */
struct wire_job {
  napi_async_work work;
  napi_deferred deferred;
  char path[PATH_BUF];
  struct wire_spec spec;
  struct wire_failure failure;
  struct job_error e;
};

static void wire_execute(napi_env env, void *arg) {
  (void)env;
  struct wire_job *job = arg;
  if (wire_namespace(job->path, &job->spec, &job->failure) == 0) return;
  errno = job->failure.err;
  job_fail(&job->e, job->failure.step, job->failure.subject);
}

static void wire_complete(napi_env env, napi_status status, void *arg) {
  struct wire_job *job = arg;
  job_settle(env, status, job->deferred, &job->e, "netnsWire", NULL);
  job_free(env, job->work, NULL, job);
}

/* A non-empty string property that fits `len` bytes with its NUL. */
static int get_prop_str(napi_env env, napi_value obj, const char *name, char *buf, size_t len) {
  napi_value v;
  char tmp[64];
  if (napi_get_named_property(env, obj, name, &v) != napi_ok || !get_str(env, v, tmp, sizeof tmp, 0, NULL)) return 0;
  size_t n = strlen(tmp);
  if (n == 0 || n >= len) return 0;
  memcpy(buf, tmp, n + 1);
  return 1;
}

static int get_prop_u32(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  napi_value v;
  return napi_get_named_property(env, obj, name, &v) == napi_ok && napi_get_value_uint32(env, v, out) == napi_ok;
}

static int parse_wire_link(napi_env env, napi_value obj, struct wire_link *l) {
  char address[INET_ADDRSTRLEN], mac[18];
  uint32_t prefix = 0, mtu = 0;
  unsigned int m[6];
  if (!get_prop_str(env, obj, "ifName", l->ifname, sizeof l->ifname) || !get_prop_str(env, obj, "hostIf", l->hostif, sizeof l->hostif) || !get_prop_str(env, obj, "bridge", l->bridge, sizeof l->bridge)) return 0;
  if (!get_prop_str(env, obj, "address", address, sizeof address) || inet_pton(AF_INET, address, &l->address) != 1) return 0;
  if (!get_prop_u32(env, obj, "prefix", &prefix) || prefix > 32 || !get_prop_u32(env, obj, "mtu", &mtu) || mtu < 68 || mtu > 65535) return 0;
  if (!get_prop_str(env, obj, "mac", mac, sizeof mac) || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) return 0;
  for (int i = 0; i < 6; i++) l->mac[i] = (uint8_t)m[i];
  l->prefix = (uint8_t)prefix;
  l->mtu = mtu;
  return 1;
}

static napi_value js_netns_wire(napi_env env, napi_callback_info info) {
  static const char *usage = "netnsWire(path: string, links: {ifName, hostIf, bridge, address, prefix, mac, mtu}[], gateway: string | null, loopback: boolean)";
  napi_value argv[4];
  struct wire_job *job = job_begin(env, info, 4, argv, sizeof *job, usage);
  if (!job) return NULL;
  bool is_array = false, loopback = false;
  uint32_t n = 0;
  char gateway[INET_ADDRSTRLEN + 1];
  int no_gateway = 0;
  int ok = get_str(env, argv[0], job->path, sizeof job->path, 0, NULL) && job->path[0] == '/' && napi_is_array(env, argv[1], &is_array) == napi_ok && is_array && napi_get_array_length(env, argv[1], &n) == napi_ok && n <= WIRE_MAX_LINKS &&
           get_str(env, argv[2], gateway, sizeof gateway, 1, &no_gateway) && napi_get_value_bool(env, argv[3], &loopback) == napi_ok;
  for (uint32_t i = 0; ok && i < n; i++) {
    napi_value item;
    ok = napi_get_element(env, argv[1], i, &item) == napi_ok && parse_wire_link(env, item, &job->spec.links[i]);
  }
  if (ok && !no_gateway) ok = inet_pton(AF_INET, gateway, &job->spec.gateway) == 1;
  if (!ok) {
    free(job);
    return throw_type(env, usage);
  }
  job->spec.nlinks = (int)n;
  job->spec.has_gateway = !no_gateway;
  job->spec.loopback = loopback;
  return queue_job(env, "wharf:netnsWire", wire_execute, wire_complete, job, &job->work, &job->deferred);
}

/* unlinkSynced(path) → Promise<void>: removes the file and fsyncs the
 * directory that held it, so that the removal lasts: one job on the thread
 * pool instead of an unlink, an open, an fsync and a close. */
static void unlink_execute(napi_env env, void *arg) {
  (void)env;
  struct path_job *job = arg;
  if (unlink(job->path) != 0) job_fail(&job->e, "unlink", job->path);
  else fsync_parent(job->path, &job->e);
}

static napi_value js_unlink_synced(napi_env env, napi_callback_info info) {
  return queue_path_job(env, info, "unlinkSynced", "wharf:unlinkSynced", "unlinkSynced(path: string), a path with a directory", unlink_execute, 1);
}

/* makeDir(tmp, dir, files, contents) → Promise<void>: a directory that
 * appears whole: tmp is made (0755) holding each of `files` (names, 0644,
 * written with the buffer of the same index in `contents`), then renamed
 * to dir — over an empty dir, never over one with entries (ENOTEMPTY or
 * EEXIST then, and nothing is left of tmp). One job on the thread pool. */
#define MAKE_DIR_MAX_FILES 4

struct make_dir_job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref contents_ref;
  char tmp[PATH_BUF];
  char dir[PATH_BUF];
  int nfiles;
  char names[MAKE_DIR_MAX_FILES][256];
  const char *data[MAKE_DIR_MAX_FILES];
  size_t len[MAKE_DIR_MAX_FILES];
  struct job_error e;
};

/* Writes the files into the open tmp dir; how many it created, even on failure. */
static int make_dir_files(struct make_dir_job *job, int dfd) {
  int made = 0;
  for (; made < job->nfiles; made++) {
    int fd = openat(dfd, job->names[made], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      job_fail(&job->e, "open", job->tmp);
      return made;
    }
    struct iovec part = {(void *)job->data[made], job->len[made]};
    const char *call = NULL;
    int err = write_all(fd, &part, 1, &call);
    if (err != 0) {
      errno = err;
      job_fail(&job->e, call, job->tmp);
      close(fd);
      return made + 1;
    }
    if (close(fd) != 0) {
      job_fail(&job->e, "close", job->tmp);
      return made + 1;
    }
  }
  return made;
}

static void make_dir_execute(napi_env env, void *arg) {
  (void)env;
  struct make_dir_job *job = arg;
  if (mkdir(job->tmp, 0755) != 0) {
    job_fail(&job->e, "mkdir", job->tmp);
    return;
  }
  int dfd = open(job->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    job_fail(&job->e, "open", job->tmp);
    rmdir(job->tmp);
    return;
  }
  int made = make_dir_files(job, dfd);
  if (job->e.err == 0 && rename(job->tmp, job->dir) != 0) job_fail(&job->e, "rename", job->dir);
  if (job->e.err != 0) {
    for (int i = 0; i < made; i++) unlinkat(dfd, job->names[i], 0);
    rmdir(job->tmp);
  }
  close(dfd);
}

static void make_dir_complete(napi_env env, napi_status status, void *arg) {
  struct make_dir_job *job = arg;
  job_settle(env, status, job->deferred, &job->e, "makeDir", NULL);
  job_free(env, job->work, job->contents_ref, job);
}

static napi_value js_make_dir(napi_env env, napi_callback_info info) {
  static const char *usage = "makeDir(tmp: string, dir: string, files: string[], contents: Buffer[])";
  napi_value argv[4];
  struct make_dir_job *job = job_begin(env, info, 4, argv, sizeof *job, usage);
  if (!job) return NULL;
  uint32_t n = 0, m = 0;
  bool ok = get_str(env, argv[0], job->tmp, sizeof job->tmp, 0, NULL) && get_str(env, argv[1], job->dir, sizeof job->dir, 0, NULL) &&
            napi_get_array_length(env, argv[2], &n) == napi_ok && napi_get_array_length(env, argv[3], &m) == napi_ok && n == m && n <= MAKE_DIR_MAX_FILES;
  for (uint32_t i = 0; ok && i < n; i++) {
    napi_value name, content;
    bool is_buffer = false;
    void *data = NULL;
    ok = napi_get_element(env, argv[2], i, &name) == napi_ok && get_str(env, name, job->names[i], sizeof job->names[i], 0, NULL) && job->names[i][0] != 0 &&
         !strchr(job->names[i], '/') && strcmp(job->names[i], ".") != 0 && strcmp(job->names[i], "..") != 0 && napi_get_element(env, argv[3], i, &content) == napi_ok &&
         napi_is_buffer(env, content, &is_buffer) == napi_ok && is_buffer && napi_get_buffer_info(env, content, &data, &job->len[i]) == napi_ok;
    job->data[i] = data;
  }
  if (!ok) {
    free(job);
    return throw_type(env, usage);
  }
  job->nfiles = (int)n;
  /* The array holds the buffers: they stay alive (and unmoved) until the job completes. */
  napi_create_reference(env, argv[3], 1, &job->contents_ref);
  return queue_job(env, "wharf:makeDir", make_dir_execute, make_dir_complete, job, &job->work, &job->deferred);
}

/* publishBlob(fd, data, target, record, dir) → Promise<{ published, size,
 * mtimeMs, clean }>: the commit of a content-store ingest in one job on the
 * thread pool. Unless something is already at target (then these bytes are
 * dropped, unsynced): the data, open at fd, is made read-only and fsynced,
 * renamed to target without replacing anything (its directory made when
 * missing; link and unlink where renameat2 cannot), and target's directory
 * is fsynced. Then the ingest goes: its record, the data when it was not
 * published, and dir itself (`clean` false when dir held anything else).
 * size and mtimeMs are target's. fd stays open: the caller closes it. A
 * failure before the rename leaves the data where it was, writable again.
 * With data, record and dir all "", fd is an unnamed file (O_TMPFILE): it is
 * linked to target (never over anything) and there is no ingest to remove. */
struct publish_job {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  char data[PATH_BUF];
  char target[PATH_BUF];
  char record[PATH_BUF];
  char dir[PATH_BUF];
  int published;
  int clean;
  struct stat st;
  struct job_error e;
};

/* Moves data to target, never over anything; 1 when moved, 0 when target exists. */
static int publish_move(struct publish_job *job) {
  char self[32];
  snprintf(self, sizeof self, "/proc/self/fd/%d", job->fd);
  int unnamed = job->data[0] == '\0';
  for (int attempt = 0; attempt < 2; attempt++) {
    /* An unnamed file is linked through /proc, which needs no CAP_DAC_READ_SEARCH as AT_EMPTY_PATH does. */
    int r = unnamed ? linkat(AT_FDCWD, self, AT_FDCWD, job->target, AT_SYMLINK_FOLLOW) : renameat2(AT_FDCWD, job->data, AT_FDCWD, job->target, RENAME_NOREPLACE);
    if (r == 0) return 1;
    if (errno == EEXIST) return 0;
    if (errno == ENOENT && attempt == 0) {
      char dir[PATH_BUF];
      parent_of(job->target, dir);
      if (mkdir(dir, 0755) != 0 && errno != EEXIST) return job_fail(&job->e, "mkdir", dir);
      continue;
    }
    if (unnamed) return job_fail(&job->e, "linkat", job->target);
    if (errno != EINVAL && errno != ENOSYS) return job_fail(&job->e, "renameat2", job->target);
    /* No RENAME_NOREPLACE here: link is just as atomic and never replaces. */
    if (link(job->data, job->target) != 0) return errno == EEXIST ? 0 : job_fail(&job->e, "link", job->target);
    if (unlink(job->data) != 0) return job_fail(&job->e, "unlink", job->data);
    return 1;
  }
  return job_fail(&job->e, unnamed ? "linkat" : "renameat2", job->target);
}

static void publish_execute(napi_env env, void *arg) {
  (void)env;
  struct publish_job *job = arg;
  struct stat existing;
  int stored = lstat(job->target, &existing) == 0;
  if (!stored && errno != ENOENT) {
    job_fail(&job->e, "lstat", job->target);
    return;
  }
  if (!stored) {
    if (fchmod(job->fd, 0444) != 0) {
      job_fail(&job->e, "fchmod", job->data);
      return;
    }
    int moved = fsync(job->fd) == 0 ? publish_move(job) : job_fail(&job->e, "fsync", job->data);
    if (moved < 0) {
      fchmod(job->fd, 0644);
      return;
    }
    job->published = moved;
    if (moved && fsync_parent(job->target, &job->e) != 0) return;
  }
  if (job->data[0] == '\0') job->clean = 1;
  else job->clean = (unlink(job->record) == 0 || errno == ENOENT) && (job->published || unlink(job->data) == 0 || errno == ENOENT) && rmdir(job->dir) == 0;
  if (stat(job->target, &job->st) != 0) job_fail(&job->e, "stat", job->target);
}

/* What publishBlob resolves with. */
static napi_value publish_result(napi_env env, const struct publish_job *job) {
  napi_value out, v;
  napi_create_object(env, &out);
  napi_get_boolean(env, job->published, &v);
  napi_set_named_property(env, out, "published", v);
  napi_get_boolean(env, job->clean, &v);
  napi_set_named_property(env, out, "clean", v);
  napi_create_double(env, (double)job->st.st_size, &v);
  napi_set_named_property(env, out, "size", v);
  napi_create_double(env, (double)job->st.st_mtim.tv_sec * 1000.0 + (double)job->st.st_mtim.tv_nsec / 1e6, &v);
  napi_set_named_property(env, out, "mtimeMs", v);
  return out;
}

static void publish_complete(napi_env env, napi_status status, void *arg) {
  struct publish_job *job = arg;
  job_settle(env, status, job->deferred, &job->e, "publishBlob", status == napi_ok && job->e.err == 0 ? publish_result(env, job) : NULL);
  job_free(env, job->work, NULL, job);
}

static napi_value js_publish_blob(napi_env env, napi_callback_info info) {
  static const char *usage = "publishBlob(fd: number, data: string, target: string, record: string, dir: string)";
  napi_value argv[5];
  struct publish_job *job = job_begin(env, info, 5, argv, sizeof *job, usage);
  if (!job) return NULL;
  int32_t fd = -1;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || !get_str(env, argv[1], job->data, sizeof job->data, 0, NULL) ||
      !get_str(env, argv[2], job->target, sizeof job->target, 0, NULL) || !get_str(env, argv[3], job->record, sizeof job->record, 0, NULL) ||
      !get_str(env, argv[4], job->dir, sizeof job->dir, 0, NULL) || !strchr(job->target, '/')) {
    free(job);
    return throw_type(env, usage);
  }
  job->fd = fd;
  return queue_job(env, "wharf:publishBlob", publish_execute, publish_complete, job, &job->work, &job->deferred);
}

/* seccompFilters(pid, skip) → Promise<Buffer | null>: the seccomp programs of
 * process pid, oldest first, without its `skip` oldest (the ones it inherited
 * from the daemon), each as a u32 instruction count and the instructions.
 * The process is seized and interrupted for the few system calls this takes
 * (PTRACE_SECCOMP_GET_FILTER needs a stopped tracee), then let go; all of it
 * on one thread of the pool, since a tracer is a thread. null when the
 * kernel will not tell (no CHECKPOINT_RESTORE, a process already traced). */
#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#define MAX_FILTERS 16

struct filters_job {
  napi_async_work work;
  napi_deferred deferred;
  pid_t pid;
  int skip;
  char *out;
  size_t len;
  int err;
  const char *syscall;
};

/* Copies the stopped tracee's kept programs into job->out (see seccompFilters). */
static void copy_filters(struct filters_job *job) {
  long counts[MAX_FILTERS];
  int n = 0;
  for (; n < MAX_FILTERS; n++) {
    long c = ptrace(PTRACE_SECCOMP_GET_FILTER, job->pid, (void *)(long)n, NULL);
    if (c < 0) break;
    counts[n] = c;
  }
  int lookup_errno = errno;
  int keep = n - job->skip;
  if (n == MAX_FILTERS || (n == 0 && lookup_errno != ENOENT) || keep < 0) {
    job->err = n == 0 ? lookup_errno : E2BIG;
    job->syscall = "ptrace(PTRACE_SECCOMP_GET_FILTER)";
    return;
  }
  size_t total = 0;
  for (int i = 0; i < keep; i++) total += sizeof(uint32_t) + (size_t)counts[i] * sizeof(struct sock_filter);
  job->out = malloc(total ? total : 1);
  if (!job->out) {
    job->err = ENOMEM;
    job->syscall = "malloc";
    return;
  }
  /* Index 0 is the newest: written from the oldest kept one down. */
  size_t off = 0;
  for (int i = keep - 1; i >= 0; i--) {
    uint32_t c = (uint32_t)counts[i];
    memcpy(job->out + off, &c, sizeof c);
    off += sizeof c;
    if (ptrace(PTRACE_SECCOMP_GET_FILTER, job->pid, (void *)(long)i, job->out + off) != counts[i]) {
      job->err = errno ? errno : EIO;
      job->syscall = "ptrace(PTRACE_SECCOMP_GET_FILTER)";
      break;
    }
    off += (size_t)counts[i] * sizeof(struct sock_filter);
  }
  job->len = off;
}

static void filters_execute(napi_env env, void *arg) {
  (void)env;
  struct filters_job *job = arg;
  if (ptrace(PTRACE_SEIZE, job->pid, NULL, NULL) != 0) {
    job->err = errno;
    job->syscall = "ptrace(PTRACE_SEIZE)";
    return;
  }
  int st;
  pid_t waited = -1;
  if (ptrace(PTRACE_INTERRUPT, job->pid, NULL, NULL) == 0) {
    do waited = waitpid(job->pid, &st, __WALL);
    while (waited < 0 && errno == EINTR);
  }
  if (waited == job->pid) copy_filters(job);
  else {
    job->err = errno;
    job->syscall = "ptrace(PTRACE_INTERRUPT)";
  }
  ptrace(PTRACE_DETACH, job->pid, NULL, NULL);
}

static void filters_complete(napi_env env, napi_status status, void *arg) {
  struct filters_job *job = arg;
  if (status != napi_ok || job->err != 0) {
    napi_value nul;
    napi_get_null(env, &nul);
    napi_resolve_deferred(env, job->deferred, nul);
  } else {
    napi_value buf;
    void *data;
    napi_create_buffer_copy(env, job->len, job->out ? job->out : "", &data, &buf);
    napi_resolve_deferred(env, job->deferred, buf);
  }
  free(job->out);
  job_free(env, job->work, NULL, job);
}

static napi_value js_seccomp_filters(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t pid = 0, skip = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || napi_get_value_int32(env, argv[1], &skip) != napi_ok || pid <= 0 || skip < 0)
    return throw_type(env, "seccompFilters(pid: number, skip: number)");
  struct filters_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "calloc", NULL);
  job->pid = pid;
  job->skip = skip;
  return queue_job(env, "wharf:seccompFilters", filters_execute, filters_complete, job, &job->work, &job->deferred);
}

/* sealedCopy(path) → fd: the file's bytes in a memfd sealed against every
 * change, for running a helper binary that nothing can write to (a process
 * in a container that opens /proc/<pid>/exe of it gets the sealed copy). */
static napi_value js_sealed_copy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  if (argc < 1 || !get_str(env, argv[0], path, sizeof path, 0, NULL)) return throw_type(env, "sealedCopy(path)");
  int src = open(path, O_RDONLY | O_CLOEXEC);
  if (src < 0) return throw_errno(env, errno, "open", path);
  int fd = (int)syscall(SYS_memfd_create, "wharf-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    int e = errno;
    close(src);
    return throw_errno(env, e, "memfd_create", path);
  }
  char buf[65536];
  for (;;) {
    ssize_t n = read(src, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(src);
      close(fd);
      return throw_errno(env, e, "read", path);
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        int e = errno;
        close(src);
        close(fd);
        return throw_errno(env, e, "write", "memfd");
      }
      off += w;
    }
  }
  close(src);
  if (fchmod(fd, 0500) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "seal", path);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

/* spawn(file, argv, env, cwd, input, fds, flags, timeoutMs) → Promise<{pid,
 * status, signal, timedOut, stdout, stderr}>: runs a program without forking
 * the daemon. posix_spawn (a vfork: no copy of the daemon's page tables, the
 * ~1-3 ms a fork of Node costs on its main thread) runs on a thread of its
 * own, which then waits for the program to end, so the daemon's main thread
 * never blocks and no thread-pool thread is held. stdin is `input` (a memfd)
 * or /dev/null; stdout and stderr are captured in memfds (flags & 2) or go to
 * /dev/null; `fds` become the child's 3, 4, … (duplicated at the call, so the
 * caller may close its own at once); every other descriptor is closed. With
 * flags & 1 the child starts a session of its own. A program still running
 * after timeoutMs (> 0) is killed. The signal mask and dispositions are reset. */
#define SPAWN_SETSID 1
#define SPAWN_CAPTURE 2
#define SPAWN_MAX_FDS 8
#define SPAWN_CAPTURE_MAX (16u << 20)
#define SPAWN_FD_FLOOR 64

struct spawn_job {
  napi_deferred deferred;
  napi_threadsafe_function tsfn;
  char *file;
  char **argv;
  char **envp;
  char *cwd;
  char *input;
  size_t input_len;
  int fds[SPAWN_MAX_FDS];
  int nfds;
  int flags;
  int timeout_ms;
  int err;
  const char *syscall;
  pid_t pid;
  int status;
  int timed_out;
  char *out;
  size_t out_len;
  char *errout;
  size_t err_len;
};

static void free_strv(char **v) {
  if (!v) return;
  for (char **p = v; *p; p++) free(*p);
  free(v);
}

static void spawn_job_free(struct spawn_job *job) {
  free(job->file);
  free_strv(job->argv);
  free_strv(job->envp);
  free(job->cwd);
  free(job->input);
  free(job->out);
  free(job->errout);
  for (int i = 0; i < job->nfds; i++)
    if (job->fds[i] >= 0) close(job->fds[i]);
  free(job);
}

/* A descriptor above every target of the child's dup2s. */
static int high_fd(int fd) {
  if (fd < 0 || fd >= SPAWN_FD_FLOOR) return fd;
  int h = fcntl(fd, F_DUPFD_CLOEXEC, SPAWN_FD_FLOOR);
  int e = errno;
  close(fd);
  errno = e;
  return h;
}

static int spawn_memfd(const char *name) {
  return high_fd((int)syscall(SYS_memfd_create, name, MFD_CLOEXEC));
}

/* Everything the memfd holds, up to SPAWN_CAPTURE_MAX bytes. */
static char *read_memfd(int fd, size_t *len) {
  *len = 0;
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0) return NULL;
  size_t want = (size_t)size < SPAWN_CAPTURE_MAX ? (size_t)size : SPAWN_CAPTURE_MAX;
  char *buf = malloc(want);
  if (!buf) return NULL;
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(fd, buf + got, want - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  *len = got;
  return buf;
}

static int spawn_wait(struct spawn_job *job) {
  if (job->timeout_ms > 0) {
    int pidfd = (int)syscall(SYS_pidfd_open, job->pid, 0);
    if (pidfd >= 0) {
      struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
      struct timespec start, now;
      clock_gettime(CLOCK_MONOTONIC, &start);
      for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= job->timeout_ms) {
          job->timed_out = 1;
          kill(job->pid, SIGKILL);
          break;
        }
        int r = poll(&pfd, 1, (int)(job->timeout_ms - elapsed));
        if (r > 0) break;
        if (r < 0 && errno != EINTR) break;
      }
      close(pidfd);
    }
  }
  int st;
  while (waitpid(job->pid, &st, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  job->status = st;
  return 0;
}

static void *spawn_thread(void *arg) {
  struct spawn_job *job = arg;
  int in = -1, out = -1, err = -1;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int have_fa = 0, have_attr = 0;
  if (job->input) {
    in = spawn_memfd("wharf-stdin");
    size_t off = 0;
    while (in >= 0 && off < job->input_len) {
      ssize_t n = write(in, job->input + off, job->input_len - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        job->err = errno;
        job->syscall = "write";
        goto done;
      }
      off += (size_t)n;
    }
    if (in >= 0) lseek(in, 0, SEEK_SET);
  } else {
    in = high_fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  if (job->flags & SPAWN_CAPTURE) {
    out = spawn_memfd("wharf-stdout");
    err = spawn_memfd("wharf-stderr");
  } else {
    out = high_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
    err = out >= 0 ? fcntl(out, F_DUPFD_CLOEXEC, SPAWN_FD_FLOOR) : -1;
  }
  if (in < 0 || out < 0 || err < 0) {
    job->err = errno;
    job->syscall = "open";
    goto done;
  }
  int e = posix_spawn_file_actions_init(&fa);
  if (e == 0) have_fa = 1;
  if (e == 0) e = posix_spawnattr_init(&attr);
  if (e == 0) have_attr = 1;
  if (e == 0) e = posix_spawn_file_actions_adddup2(&fa, in, 0);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&fa, out, 1);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&fa, err, 2);
  for (int i = 0; e == 0 && i < job->nfds; i++) e = posix_spawn_file_actions_adddup2(&fa, job->fds[i], 3 + i);
  if (e == 0) e = posix_spawn_file_actions_addclosefrom_np(&fa, 3 + job->nfds);
  if (e == 0 && job->cwd) e = posix_spawn_file_actions_addchdir_np(&fa, job->cwd);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  short sflags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | ((job->flags & SPAWN_SETSID) ? POSIX_SPAWN_SETSID : 0);
  if (e == 0) e = posix_spawnattr_setflags(&attr, sflags);
  if (e == 0) e = posix_spawnattr_setsigmask(&attr, &none);
  if (e == 0) e = posix_spawnattr_setsigdefault(&attr, &all);
  if (e != 0) {
    job->err = e;
    job->syscall = "posix_spawn_file_actions";
    goto done;
  }
  e = posix_spawn(&job->pid, job->file, &fa, &attr, job->argv, job->envp ? job->envp : environ);
  if (e != 0) {
    job->err = e;
    job->syscall = "spawn";
    job->pid = 0;
    goto done;
  }
  /* The child holds its own copies now. */
  for (int i = 0; i < job->nfds; i++) {
    close(job->fds[i]);
    job->fds[i] = -1;
  }
  if (spawn_wait(job) != 0) {
    job->err = errno;
    job->syscall = "waitpid";
    goto done;
  }
  if (job->flags & SPAWN_CAPTURE) {
    job->out = read_memfd(out, &job->out_len);
    job->errout = read_memfd(err, &job->err_len);
  }
done:
  if (have_fa) posix_spawn_file_actions_destroy(&fa);
  if (have_attr) posix_spawnattr_destroy(&attr);
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  if (err >= 0) close(err);
  napi_threadsafe_function tsfn = job->tsfn;
  napi_call_threadsafe_function(tsfn, job, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static napi_value buffer_of(napi_env env, const char *data, size_t len) {
  napi_value b;
  void *unused;
  napi_create_buffer_copy(env, len, len ? data : "", &unused, &b);
  return b;
}

static void spawn_done(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)context;
  struct spawn_job *job = data;
  if (env == NULL) { /* the environment is going away: nothing to settle */
    spawn_job_free(job);
    return;
  }
  if (job->err != 0) {
    napi_reject_deferred(env, job->deferred, errno_error(env, job->err, job->syscall, job->file));
  } else {
    napi_value result, v, nul;
    napi_get_null(env, &nul);
    napi_create_object(env, &result);
    napi_create_int32(env, job->pid, &v);
    napi_set_named_property(env, result, "pid", v);
    if (WIFEXITED(job->status)) napi_create_int32(env, WEXITSTATUS(job->status), &v);
    napi_set_named_property(env, result, "status", WIFEXITED(job->status) ? v : nul);
    if (WIFSIGNALED(job->status)) napi_create_int32(env, WTERMSIG(job->status), &v);
    napi_set_named_property(env, result, "signal", WIFSIGNALED(job->status) ? v : nul);
    napi_get_boolean(env, job->timed_out != 0, &v);
    napi_set_named_property(env, result, "timedOut", v);
    napi_set_named_property(env, result, "stdout", buffer_of(env, job->out, job->out_len));
    napi_set_named_property(env, result, "stderr", buffer_of(env, job->errout, job->err_len));
    napi_resolve_deferred(env, job->deferred, result);
  }
  spawn_job_free(job);
}

/* A NULL-terminated copy of a JS array of strings. */
static char **get_strv(napi_env env, napi_value arr, int nullable, int *ok) {
  *ok = 0;
  napi_valuetype t;
  napi_typeof(env, arr, &t);
  if (nullable && (t == napi_null || t == napi_undefined)) {
    *ok = 1;
    return NULL;
  }
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array || napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  char **v = calloc((size_t)n + 1, sizeof *v);
  if (!v) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    size_t len;
    if (napi_get_element(env, arr, i, &item) != napi_ok || napi_get_value_string_utf8(env, item, NULL, 0, &len) != napi_ok) goto fail;
    v[i] = malloc(len + 1);
    if (!v[i] || napi_get_value_string_utf8(env, item, v[i], len + 1, &len) != napi_ok) goto fail;
  }
  *ok = 1;
  return v;
fail:
  free_strv(v);
  return NULL;
}

static char *get_dup_str(napi_env env, napi_value v, int nullable, int *ok) {
  *ok = 0;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (nullable && (t == napi_null || t == napi_undefined)) {
    *ok = 1;
    return NULL;
  }
  size_t len;
  if (t != napi_string || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s || napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
    free(s);
    return NULL;
  }
  *ok = 1;
  return s;
}

static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  static const char *usage = "spawn(file: string, argv: string[], env: string[] | null, cwd: string | null, input: Buffer | null, fds: number[], flags: number, timeoutMs: number)";
  if (argc < 8) return throw_type(env, usage);
  struct spawn_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "calloc", NULL);
  for (int i = 0; i < SPAWN_MAX_FDS; i++) job->fds[i] = -1;
  int ok1, ok2, ok3, ok4;
  job->file = get_dup_str(env, argv[0], 0, &ok1);
  job->argv = get_strv(env, argv[1], 0, &ok2);
  job->envp = get_strv(env, argv[2], 1, &ok3);
  job->cwd = get_dup_str(env, argv[3], 1, &ok4);
  int32_t flags = 0, timeout = 0;
  bool ok = ok1 && ok2 && ok3 && ok4 && napi_get_value_int32(env, argv[6], &flags) == napi_ok && napi_get_value_int32(env, argv[7], &timeout) == napi_ok;
  napi_valuetype t;
  napi_typeof(env, argv[4], &t);
  if (ok && t != napi_null && t != napi_undefined) {
    bool is_buffer = false;
    void *data;
    size_t len;
    ok = napi_is_buffer(env, argv[4], &is_buffer) == napi_ok && is_buffer && napi_get_buffer_info(env, argv[4], &data, &len) == napi_ok;
    if (ok) {
      job->input = malloc(len ? len : 1);
      job->input_len = len;
      if (!job->input) ok = false;
      else memcpy(job->input, data, len);
    }
  }
  bool is_array = false;
  uint32_t nfds = 0;
  ok = ok && napi_is_array(env, argv[5], &is_array) == napi_ok && is_array && napi_get_array_length(env, argv[5], &nfds) == napi_ok && nfds <= SPAWN_MAX_FDS;
  if (!ok) {
    spawn_job_free(job);
    return throw_type(env, usage);
  }
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value item;
    int32_t fd = -1;
    if (napi_get_element(env, argv[5], i, &item) != napi_ok || napi_get_value_int32(env, item, &fd) != napi_ok) {
      spawn_job_free(job);
      return throw_type(env, usage);
    }
    /* Duplicated now: the caller may close its descriptor as soon as this returns. */
    job->fds[i] = fcntl(fd, F_DUPFD_CLOEXEC, SPAWN_FD_FLOOR);
    job->nfds = (int)i + 1;
    if (job->fds[i] < 0) {
      int e = errno;
      spawn_job_free(job);
      return throw_errno(env, e, "dup", NULL);
    }
  }
  job->flags = flags;
  job->timeout_ms = timeout;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "wharf:spawn", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, spawn_done, &job->tsfn) != napi_ok) {
    spawn_job_free(job);
    return throw_errno(env, EAGAIN, "napi_create_threadsafe_function", NULL);
  }
  int e = start_detached(spawn_thread, job, 256 * 1024);
  if (e != 0) {
    napi_release_threadsafe_function(job->tsfn, napi_tsfn_abort);
    spawn_job_free(job);
    return throw_errno(env, e, "pthread_create", NULL);
  }
  return promise;
}

/* pipe() → [read, write], both close-on-exec. */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return throw_errno(env, errno, "pipe2", NULL);
  napi_value arr, r, w;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, p[0], &r);
  napi_create_int32(env, p[1], &w);
  napi_set_element(env, arr, 0, r);
  napi_set_element(env, arr, 1, w);
  return arr;
}

/* A streaming hash whose updates run on the thread pool, each together with
 * the write of the same bytes: hasherCreate(algorithm) → handle;
 * hasherWrite(handle, fd, data) → Promise<void> writes all of data (one
 * Uint8Array, or up to 256 written in order) to fd (fd < 0: none) and then
 * adds it to the hash, so the daemon's main thread
 * neither hashes nor waits for the disk; hasherDigest(handle) → hex, once.
 * One update at a time: a second while one runs fails with EBUSY. */
struct hasher {
  EVP_MD_CTX *ctx;
  int busy;
  int done;
};

static void hasher_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  struct hasher *h = data;
  if (h->ctx) EVP_MD_CTX_free(h->ctx);
  free(h);
}

static napi_value js_hasher_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[16];
  if (argc < 1 || !get_str(env, argv[0], name, sizeof name, 0, NULL)) return throw_type(env, "hasherCreate(algorithm: \"sha256\" | \"sha512\")");
  const EVP_MD *md = strcmp(name, "sha256") == 0 ? EVP_sha256() : strcmp(name, "sha512") == 0 ? EVP_sha512() : NULL;
  if (!md) return throw_type(env, "hasherCreate: the algorithm is sha256 or sha512");
  struct hasher *h = calloc(1, sizeof *h);
  if (!h) return throw_errno(env, ENOMEM, "calloc", NULL);
  h->ctx = EVP_MD_CTX_new();
  if (!h->ctx || EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
    hasher_finalize(env, h, NULL);
    return throw_errno(env, ENOMEM, "EVP_DigestInit_ex", NULL);
  }
  napi_value ext;
  napi_create_external(env, h, hasher_finalize, NULL, &ext);
  return ext;
}

static struct hasher *get_hasher(napi_env env, napi_value v) {
  napi_valuetype t;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

#define HASH_WRITE_MAX_PARTS 256
/* Bytes of a file written before its writeback is started as it grows. */
#define WRITEBACK_AFTER ((off_t)4 << 20)

struct hash_write_job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref data_ref;
  napi_ref hasher_ref;
  struct hasher *h;
  int fd;
  int nparts;
  struct iovec parts[HASH_WRITE_MAX_PARTS];
  int err;
  const char *syscall;
};

static void hash_write_execute(napi_env env, void *arg) {
  (void)env;
  struct hash_write_job *job = arg;
  if (job->fd >= 0) {
    const char *syscall = NULL;
    int e = write_all(job->fd, job->parts, job->nparts, &syscall);
    if (e != 0) {
      job->err = e;
      job->syscall = syscall;
      return;
    }
    /* Past the first few MiB, the disk starts on the bytes now rather than at
     * the commit's fsync: a large blob's sync then waits for its tail only.
     * Advisory: a file system that cannot do it loses nothing. */
    off_t end = lseek(job->fd, 0, SEEK_CUR);
    if (end >= WRITEBACK_AFTER) sync_file_range(job->fd, 0, end, SYNC_FILE_RANGE_WRITE);
  }
  for (int i = 0; i < job->nparts; i++) {
    if (EVP_DigestUpdate(job->h->ctx, job->parts[i].iov_base, job->parts[i].iov_len) != 1) {
      job->err = EIO;
      job->syscall = "EVP_DigestUpdate";
      return;
    }
  }
}

static void hash_write_complete(napi_env env, napi_status status, void *arg) {
  struct hash_write_job *job = arg;
  job->h->busy = 0;
  if (status != napi_ok && job->err == 0) {
    job->err = ECANCELED;
    job->syscall = "hasherWrite";
  }
  if (job->err == 0) napi_resolve_deferred(env, job->deferred, undefined(env));
  else napi_reject_deferred(env, job->deferred, errno_error(env, job->err, job->syscall, NULL));
  napi_delete_reference(env, job->hasher_ref);
  job_free(env, job->work, job->data_ref, job);
}

/* One Uint8Array into an iovec; false when v is not one. */
static bool get_part(napi_env env, napi_value v, struct iovec *part) {
  bool is_typed = false;
  napi_typedarray_type tt;
  size_t len = 0;
  void *data = NULL;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed || napi_get_typedarray_info(env, v, &tt, &len, &data, NULL, NULL) != napi_ok || tt != napi_uint8_array) return false;
  part->iov_base = data;
  part->iov_len = len;
  return true;
}

static napi_value js_hasher_write(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  static const char *usage = "hasherWrite(hasher, fd: number, data: Uint8Array | Uint8Array[])";
  if (argc < 3) return throw_type(env, usage);
  struct hasher *h = get_hasher(env, argv[0]);
  int32_t fd = -1;
  if (!h || napi_get_value_int32(env, argv[1], &fd) != napi_ok) return throw_type(env, usage);
  struct hash_write_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "calloc", NULL);
  bool is_array = false;
  napi_is_array(env, argv[2], &is_array);
  bool ok = true;
  if (is_array) {
    uint32_t n = 0;
    ok = napi_get_array_length(env, argv[2], &n) == napi_ok && n <= HASH_WRITE_MAX_PARTS;
    for (uint32_t i = 0; ok && i < n; i++) {
      napi_value item;
      ok = napi_get_element(env, argv[2], i, &item) == napi_ok && get_part(env, item, &job->parts[i]);
    }
    job->nparts = (int)n;
  } else {
    ok = get_part(env, argv[2], &job->parts[0]);
    job->nparts = 1;
  }
  if (!ok) {
    free(job);
    return throw_type(env, usage);
  }
  if (h->done || h->busy) {
    free(job);
    return h->done ? throw_errno(env, EINVAL, "hasherWrite", "the digest was taken") : throw_errno(env, EBUSY, "hasherWrite", NULL);
  }
  job->h = h;
  job->fd = fd;
  h->busy = 1;
  /* The bytes (the array holds its parts) and the hasher stay alive until the job completes. */
  napi_create_reference(env, argv[2], 1, &job->data_ref);
  napi_create_reference(env, argv[0], 1, &job->hasher_ref);
  return queue_job(env, "wharf:hasherWrite", hash_write_execute, hash_write_complete, job, &job->work, &job->deferred);
}

static napi_value js_hasher_digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct hasher *h = argc < 1 ? NULL : get_hasher(env, argv[0]);
  if (!h) return throw_type(env, "hasherDigest(hasher)");
  if (h->busy) return throw_errno(env, EBUSY, "hasherDigest", NULL);
  if (h->done) return throw_errno(env, EINVAL, "hasherDigest", "the digest was taken");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1) return throw_errno(env, EIO, "EVP_DigestFinal_ex", NULL);
  h->done = 1;
  char hex[EVP_MAX_MD_SIZE * 2 + 1];
  static const char digits[] = "0123456789abcdef";
  for (unsigned int i = 0; i < n; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[2 * n] = 0;
  napi_value out;
  napi_create_string_utf8(env, hex, 2 * n, &out);
  return out;
}

/* finishFiles(meta: Float64Array, parts: Uint8Array[]) → Promise<void>: the
 * rest of each of several files created (open) by a layer's apply, in one job
 * on the thread pool, so a layer's small files are written and finished on
 * other cores while its entries go on being created in order. Per file, 7
 * numbers in meta: fd, uid and gid (uid < 0: no chown), mode (< 0: no
 * chmod), mtime seconds and nanoseconds, and how many of `parts` (taken in
 * order) are its bytes. Each file gets its bytes, then chown, chmod (after
 * chown: chown clears setuid), both times, and is closed — every fd is
 * closed, whatever fails. A failure rejects with an errno error whose
 * `index` is the file's. */
#define FINISH_META 7
#define FINISH_MAX_FILES 256
#define FINISH_MAX_PARTS 1024

struct finish_file {
  int fd;
  int uid;
  int gid;
  int mode;
  struct timespec mtime;
  int first_part;
  int nparts;
};

struct finish_job {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref parts_ref;
  int nfiles;
  struct finish_file files[FINISH_MAX_FILES];
  struct iovec parts[FINISH_MAX_PARTS];
  int err;
  int err_index;
  const char *syscall;
};

static void finish_execute(napi_env env, void *arg) {
  (void)env;
  struct finish_job *job = arg;
  for (int i = 0; i < job->nfiles; i++) {
    struct finish_file *f = &job->files[i];
    if (job->err == 0) {
      const char *syscall = NULL;
      int e = write_all(f->fd, job->parts + f->first_part, f->nparts, &syscall);
      if (e == 0 && f->uid >= 0 && fchown(f->fd, (uid_t)f->uid, (gid_t)f->gid) < 0) e = errno, syscall = "fchown";
      if (e == 0 && f->mode >= 0 && fchmod(f->fd, (mode_t)f->mode) < 0) e = errno, syscall = "fchmod";
      struct timespec times[2] = {f->mtime, f->mtime};
      if (e == 0 && futimens(f->fd, times) < 0) e = errno, syscall = "futimens";
      if (e != 0) {
        job->err = e;
        job->err_index = i;
        job->syscall = syscall;
      }
    }
    close(f->fd);
  }
}

static void finish_complete(napi_env env, napi_status status, void *arg) {
  struct finish_job *job = arg;
  if (status != napi_ok && job->err == 0) {
    job->err = ECANCELED;
    job->syscall = "finishFiles";
  }
  if (job->err == 0) {
    napi_resolve_deferred(env, job->deferred, undefined(env));
  } else {
    napi_value error = errno_error(env, job->err, job->syscall, NULL), index;
    napi_create_int32(env, job->err_index, &index);
    napi_set_named_property(env, error, "index", index);
    napi_reject_deferred(env, job->deferred, error);
  }
  job_free(env, job->work, job->parts_ref, job);
}

static napi_value js_finish_files(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  static const char *usage = "finishFiles(meta: Float64Array (7 per file, at most 256 files), parts: Uint8Array[] (at most 1024))";
  if (argc < 2) return throw_type(env, usage);
  bool is_typed = false, is_array = false;
  napi_typedarray_type tt;
  size_t count = 0;
  void *data = NULL;
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed || napi_get_typedarray_info(env, argv[0], &tt, &count, &data, NULL, NULL) != napi_ok ||
      tt != napi_float64_array || count % FINISH_META != 0 || count / FINISH_META > FINISH_MAX_FILES)
    return throw_type(env, usage);
  uint32_t nparts = 0;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &nparts) != napi_ok || nparts > FINISH_MAX_PARTS) return throw_type(env, usage);
  struct finish_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "calloc", NULL);
  for (uint32_t i = 0; i < nparts; i++) {
    napi_value item;
    if (napi_get_element(env, argv[1], i, &item) != napi_ok || !get_part(env, item, &job->parts[i])) {
      free(job);
      return throw_type(env, usage);
    }
  }
  const double *meta = data;
  job->nfiles = (int)(count / FINISH_META);
  uint32_t next = 0;
  for (int i = 0; i < job->nfiles; i++) {
    const double *m = meta + (size_t)i * FINISH_META;
    struct finish_file *f = &job->files[i];
    double sec = m[4], nsec = m[5], n = m[6];
    if (m[0] < 0 || m[0] > INT32_MAX || n < 0 || n > (double)(nparts - next) || nsec < 0 || nsec >= 1e9) {
      free(job);
      return throw_type(env, usage);
    }
    f->fd = (int)m[0];
    f->uid = m[1] < 0 ? -1 : (int)m[1];
    f->gid = m[2] < 0 ? -1 : (int)m[2];
    f->mode = m[3] < 0 ? -1 : (int)m[3];
    f->mtime.tv_sec = (time_t)sec;
    f->mtime.tv_nsec = (long)nsec;
    f->first_part = (int)next;
    f->nparts = (int)n;
    next += (uint32_t)n;
  }
  /* The parts (the array holds them) stay alive until the job completes. */
  napi_create_reference(env, argv[1], 1, &job->parts_ref);
  return queue_job(env, "wharf:finishFiles", finish_execute, finish_complete, job, &job->work, &job->deferred);
}

/* sendFile(socketFd, fileFd, offset, length, idleMs) → [Promise<number>, job]:
 * the kernel copies `length` bytes of the file from `offset` to the socket
 * (sendfile: never through the process) on a thread of its own, waiting
 * for the socket to take more while its peer reads; both descriptors are
 * duplicated at the call. Fails with ETIMEDOUT when the peer takes nothing
 * for idleMs, ECANCELED after sendFileCancel(job), ENODATA when the file
 * ends early. The job handle stays valid however long it is kept. */
#define SENDFILE_STEP (4u << 20)

struct sendfile_job {
  napi_deferred deferred;
  napi_threadsafe_function tsfn;
  int out;
  int in;
  int cancel;
  off_t offset;
  size_t length;
  size_t sent;
  int idle_ms;
  int err;
  const char *syscall;
  int finished; /* main thread only */
  int refs;     /* main thread only: the completion and the JS handle */
};

static void sendfile_unref(struct sendfile_job *job) {
  if (--job->refs > 0) return;
  if (job->cancel >= 0) close(job->cancel);
  free(job);
}

static void sendfile_handle_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sendfile_unref(data);
}

static int sendfile_cancelled(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) > 0;
}

static void *sendfile_thread(void *arg) {
  struct sendfile_job *job = arg;
  while (job->sent < job->length) {
    if (sendfile_cancelled(job->cancel)) {
      job->err = ECANCELED;
      job->syscall = "sendfile";
      break;
    }
    size_t want = job->length - job->sent;
    if (want > SENDFILE_STEP) want = SENDFILE_STEP;
    ssize_t n = sendfile(job->out, job->in, &job->offset, want);
    if (n > 0) {
      job->sent += (size_t)n;
      continue;
    }
    if (n == 0) {
      job->err = ENODATA;
      job->syscall = "sendfile";
      break;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      job->err = errno;
      job->syscall = "sendfile";
      break;
    }
    struct pollfd p[2] = {{.fd = job->out, .events = POLLOUT}, {.fd = job->cancel, .events = POLLIN}};
    int r = poll(p, 2, job->idle_ms > 0 ? job->idle_ms : -1);
    if (r == 0) {
      job->err = ETIMEDOUT;
      job->syscall = "sendfile";
      break;
    }
    if (r < 0 && errno != EINTR) {
      job->err = errno;
      job->syscall = "poll";
      break;
    }
    /* Writable, an error to be read by the next sendfile, or a cancel seen at the top. */
  }
  close(job->out);
  close(job->in);
  napi_threadsafe_function tsfn = job->tsfn;
  napi_call_threadsafe_function(tsfn, job, napi_tsfn_blocking);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

static void sendfile_done(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)context;
  struct sendfile_job *job = data;
  job->finished = 1;
  if (env != NULL) {
    if (job->err != 0) {
      napi_reject_deferred(env, job->deferred, errno_error(env, job->err, job->syscall, NULL));
    } else {
      napi_value n;
      napi_create_double(env, (double)job->sent, &n);
      napi_resolve_deferred(env, job->deferred, n);
    }
  }
  sendfile_unref(job);
}

static napi_value js_send_file(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  static const char *usage = "sendFile(socketFd: number, fileFd: number, offset: number, length: number, idleMs: number)";
  int32_t out = -1, in = -1, idle = 0;
  int64_t offset = -1, length = -1;
  if (argc < 5 || napi_get_value_int32(env, argv[0], &out) != napi_ok || napi_get_value_int32(env, argv[1], &in) != napi_ok ||
      napi_get_value_int64(env, argv[2], &offset) != napi_ok || napi_get_value_int64(env, argv[3], &length) != napi_ok ||
      napi_get_value_int32(env, argv[4], &idle) != napi_ok || offset < 0 || length < 0)
    return throw_type(env, usage);
  struct sendfile_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "calloc", NULL);
  job->out = fcntl(out, F_DUPFD_CLOEXEC, 0);
  job->in = job->out < 0 ? -1 : fcntl(in, F_DUPFD_CLOEXEC, 0);
  job->cancel = job->in < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (job->cancel < 0) {
    int e = errno;
    if (job->out >= 0) close(job->out);
    if (job->in >= 0) close(job->in);
    free(job);
    return throw_errno(env, e, "dup", NULL);
  }
  job->offset = (off_t)offset;
  job->length = (size_t)length;
  job->idle_ms = idle;
  job->refs = 2;
  napi_value promise, name, handle, pair;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "wharf:sendFile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, sendfile_done, &job->tsfn) != napi_ok) {
    close(job->out);
    close(job->in);
    close(job->cancel);
    free(job);
    return throw_errno(env, EAGAIN, "napi_create_threadsafe_function", NULL);
  }
  int e = start_detached(sendfile_thread, job, 128 * 1024);
  if (e != 0) {
    napi_release_threadsafe_function(job->tsfn, napi_tsfn_abort);
    close(job->out);
    close(job->in);
    close(job->cancel);
    free(job);
    return throw_errno(env, e, "pthread_create", NULL);
  }
  napi_create_external(env, job, sendfile_handle_finalize, NULL, &handle);
  napi_create_array_with_length(env, 2, &pair);
  napi_set_element(env, pair, 0, promise);
  napi_set_element(env, pair, 1, handle);
  return pair;
}

static napi_value js_send_file_cancel(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t;
  void *data = NULL;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &data) != napi_ok)
    return throw_type(env, "sendFileCancel(job)");
  struct sendfile_job *job = data;
  if (!job->finished) {
    uint64_t one = 1;
    ssize_t n = write(job->cancel, &one, sizeof one);
    (void)n;
  }
  return undefined(env);
}

/* cgroupWarm(procs, ms): keeps the kernel's lock for moves between cgroups
 * ready for at least `ms` more milliseconds. A move into a cgroup
 * (cgroup_threadgroup_rwsem taken for writing) first waits for a whole RCU
 * grace period, unless another move ended less than about a grace period
 * before. From a thread of its own, this process is moved into the cgroup it
 * is in (`procs`, that cgroup's cgroup.procs, opened at the call: nothing
 * changes) at once and then every few milliseconds until the time is up, so
 * the other moves meanwhile (runc's at a create, the exec helper's) find the
 * grace period passed. A call while the thread runs only moves the time on;
 * failed moves are not reported (the lock was taken either way). */
#define WARM_PERIOD_NS (3 * 1000 * 1000L)
static pthread_mutex_t warm_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t warm_until_ns;
static int warm_fd = -1;

static int64_t monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void *warm_thread(void *arg) {
  (void)arg;
  char pid[24];
  int n = snprintf(pid, sizeof pid, "%d", (int)getpid());
  for (;;) {
    pthread_mutex_lock(&warm_mu);
    if (monotonic_ns() >= warm_until_ns) {
      close(warm_fd);
      warm_fd = -1;
      pthread_mutex_unlock(&warm_mu);
      return NULL;
    }
    int fd = warm_fd;
    pthread_mutex_unlock(&warm_mu);
    ssize_t w = write(fd, pid, (size_t)n);
    (void)w;
    struct timespec period = {0, WARM_PERIOD_NS};
    nanosleep(&period, NULL);
  }
}

static napi_value js_cgroup_warm(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_BUF];
  int32_t ms = 0;
  if (argc < 2 || !get_str(env, argv[0], path, sizeof path, 0, NULL) || napi_get_value_int32(env, argv[1], &ms) != napi_ok || ms <= 0)
    return throw_type(env, "cgroupWarm(procs: string, ms: number)");
  int64_t until = monotonic_ns() + (int64_t)ms * 1000000;
  pthread_mutex_lock(&warm_mu);
  if (warm_fd >= 0) {
    if (until > warm_until_ns) warm_until_ns = until;
    pthread_mutex_unlock(&warm_mu);
    return undefined(env);
  }
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    pthread_mutex_unlock(&warm_mu);
    return throw_errno(env, e, "open", path);
  }
  warm_fd = fd;
  warm_until_ns = until;
  int e = start_detached(warm_thread, NULL, 64 * 1024);
  if (e != 0) {
    close(fd);
    warm_fd = -1;
  }
  pthread_mutex_unlock(&warm_mu);
  if (e != 0) return throw_errno(env, e, "pthread_create", NULL);
  return undefined(env);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mountIn", NULL, js_mount_in, NULL, NULL, NULL, napi_enumerable, NULL},
    {"umount2", NULL, js_umount2, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_enumerable, NULL},
    {"createFile", NULL, js_create_file, NULL, NULL, NULL, napi_enumerable, NULL},
    {"seqpacketConnect", NULL, js_seqpacket_connect, NULL, NULL, NULL, napi_enumerable, NULL},
    {"chroot", NULL, js_chroot, NULL, NULL, NULL, napi_enumerable, NULL},
    {"markTopDir", NULL, js_mark_top_dir, NULL, NULL, NULL, napi_enumerable, NULL},
    {"netnsCreate", NULL, js_netns_create, NULL, NULL, NULL, napi_enumerable, NULL},
    {"netnsWire", NULL, js_netns_wire, NULL, NULL, NULL, napi_enumerable, NULL},
    {"writeFileAtomic", NULL, js_write_file_atomic, NULL, NULL, NULL, napi_enumerable, NULL},
    {"publishBlob", NULL, js_publish_blob, NULL, NULL, NULL, napi_enumerable, NULL},
    {"makeDir", NULL, js_make_dir, NULL, NULL, NULL, napi_enumerable, NULL},
    {"readInRoot", NULL, js_read_in_root, NULL, NULL, NULL, napi_enumerable, NULL},
    {"releaseInit", NULL, js_release_init, NULL, NULL, NULL, napi_enumerable, NULL},
    {"unlinkSynced", NULL, js_unlink_synced, NULL, NULL, NULL, napi_enumerable, NULL},
    {"seccompFilters", NULL, js_seccomp_filters, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sealedCopy", NULL, js_sealed_copy, NULL, NULL, NULL, napi_enumerable, NULL},
    {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL},
    {"pipe", NULL, js_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
    {"hasherCreate", NULL, js_hasher_create, NULL, NULL, NULL, napi_enumerable, NULL},
    {"hasherWrite", NULL, js_hasher_write, NULL, NULL, NULL, napi_enumerable, NULL},
    {"finishFiles", NULL, js_finish_files, NULL, NULL, NULL, napi_enumerable, NULL},
    {"hasherDigest", NULL, js_hasher_digest, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sendFile", NULL, js_send_file, NULL, NULL, NULL, napi_enumerable, NULL},
    {"sendFileCancel", NULL, js_send_file_cancel, NULL, NULL, NULL, napi_enumerable, NULL},
    {"cgroupWarm", NULL, js_cgroup_warm, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
