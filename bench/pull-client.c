/*
 * A lean blob-pull client for bench/registry.ts: one kept-alive HTTP/1.1
 * connection, one GET per path given, each body moved from the socket to
 * /dev/null by splice (socket → pipe → /dev/null), so the bytes never
 * enter this process. On a shared 2-core machine the client then takes
 * almost no CPU and the servers' own costs decide the throughput, as they
 * would with clients on other machines.
 *
 *   pull-client HOST PORT PATH...
 *
 * Prints "<status> <body bytes>" per path; exits 1 on any error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "pull-client: %s: %s\n", what, errno ? strerror(errno) : "bad answer");
  exit(1);
}

static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("send");
    }
    p += w;
    n -= (size_t)w;
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: pull-client HOST PORT PATH...\n");
    return 2;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) die("address");
  int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  int one = 1;
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  int pipefd[2];
  if (devnull < 0 || pipe2(pipefd, O_CLOEXEC) < 0) die("pipe");
  fcntl(pipefd[1], F_SETPIPE_SZ, 1 << 20);
  char head[16384];
  for (int i = 3; i < argc; i++) {
    char req[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAccept: */*\r\n\r\n", argv[i], argv[1], argv[2]);
    if (n <= 0 || (size_t)n >= sizeof req) die("path too long");
    send_all(sock, req, (size_t)n);
    /* Headers: read until the blank line; what follows it is the body's start. */
    size_t got = 0;
    char *end = NULL;
    while (!end) {
      if (got == sizeof head - 1) die("headers too long");
      ssize_t r = recv(sock, head + got, sizeof head - 1 - got, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) die("recv headers");
      got += (size_t)r;
      head[got] = 0;
      end = strstr(head, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) die("status line");
    long long length = -1;
    for (char *line = strstr(head, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
      if (strncasecmp(line + 2, "content-length:", 15) == 0) length = atoll(line + 17);
      if (strncasecmp(line + 2, "transfer-encoding:", 18) == 0) die("chunked bodies are not read");
    }
    if (length < 0) die("no Content-Length");
    long long body = (long long)(got - (size_t)(end + 4 - head));
    if (body > length) die("more bytes than Content-Length");
    long long left = length - body;
    while (left > 0) {
      ssize_t s = splice(sock, NULL, pipefd[1], NULL, (size_t)(left < (1 << 20) ? left : (1 << 20)), SPLICE_F_MOVE | SPLICE_F_MORE);
      if (s < 0 && errno == EINTR) continue;
      if (s <= 0) die("splice from socket");
      for (ssize_t out = 0; out < s;) {
        ssize_t d = splice(pipefd[0], NULL, devnull, NULL, (size_t)(s - out), SPLICE_F_MOVE);
        if (d < 0 && errno == EINTR) continue;
        if (d <= 0) die("splice to /dev/null");
        out += d;
      }
      left -= s;
      body += s;
    }
    printf("%d %lld\n", status, body);
  }
  return 0;
}
