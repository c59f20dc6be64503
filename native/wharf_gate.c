/*
 * wharf-gate: holds an OCI runtime's `create` until the container's bundle is
 * ready, so that the monitor (conmon) can start while the daemon still mounts
 * the root file system and writes the spec.
 *
 * conmon runs it as the runtime, with the runtime's arguments. It opens the
 * FIFO named by WHARF_GATE (the daemon holds it open for writing, so the open
 * never waits) and reads one byte: `1` runs the runtime named by
 * WHARF_GATE_RUNTIME with the same arguments, in this process; anything else,
 * or nothing within WHARF_GATE_TIMEOUT seconds (60 unless set), ends it with
 * status 1 and a line on stderr, which conmon reports as the create's failure.
 * Both variables are removed before the runtime runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "wharf-gate: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  return 1;
}

int main(int argc, char **argv) {
  (void)argc;
  const char *fifo = getenv("WHARF_GATE");
  const char *runtime = getenv("WHARF_GATE_RUNTIME");
  if (!fifo || !runtime || !*fifo || !*runtime) return fail("WHARF_GATE and WHARF_GATE_RUNTIME must name the gate and the runtime", NULL);
  const char *limit = getenv("WHARF_GATE_TIMEOUT");
  long seconds = limit ? strtol(limit, NULL, 10) : 60;
  if (seconds <= 0 || seconds > 3600) seconds = 60;
  /* Non-blocking open: a gate whose daemon is gone is never waited on beyond the timeout. */
  int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(fifo, strerror(errno));
  char c = 0;
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n == 1) break;
    if (n == 0) return fail("the start was called off", NULL);
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return fail(fifo, strerror(errno));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)(seconds * 1000));
    if (r == 0) return fail("the daemon did not open the gate in time", NULL);
    if (r < 0 && errno != EINTR) return fail("poll", strerror(errno));
  }
  close(fd);
  if (c != '1') return fail("the start was called off", NULL);
  char *path = strdup(runtime);
  if (!path) return fail("strdup", strerror(errno));
  unsetenv("WHARF_GATE");
  unsetenv("WHARF_GATE_RUNTIME");
  unsetenv("WHARF_GATE_TIMEOUT");
  argv[0] = path;
  execv(path, argv);
  return fail(path, strerror(errno));
}
