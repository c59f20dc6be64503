/* The fields of /proc/<pid>/stat from the third on (the state letter first),
 * for the addon and the helpers alike: read into buf, NULL when the process
 * is gone or the text is not as expected. */
#ifndef WHARF_PROCSTAT_H
#define WHARF_PROCSTAT_H
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static inline char *proc_stat_fields(pid_t pid, char *buf, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n <= 0) return NULL;
  buf[n] = 0;
  /* The command name may hold spaces and parentheses: count from the last ')'. */
  char *end = strrchr(buf, ')');
  return end && end[1] == ' ' ? end + 2 : NULL;
}

#endif
