/* rtnetlink requests for a container's network namespace (see netlink.h). */
#define _GNU_SOURCE
#include "netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MSG_BYTES 1024

/* One request being built: a netlink header, the family's header, attributes. */
struct request {
  union {
    struct nlmsghdr h;
    char bytes[MSG_BYTES];
  } u;
};

static struct nlmsghdr *begin(struct request *r, uint16_t type, uint16_t flags, const void *head, size_t head_len) {
  memset(r, 0, sizeof *r);
  struct nlmsghdr *n = &r->u.h;
  n->nlmsg_len = NLMSG_LENGTH(head_len);
  n->nlmsg_type = type;
  n->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  memcpy(NLMSG_DATA(n), head, head_len);
  return n;
}

/* Appends raw bytes, aligned (the peer's ifinfomsg inside VETH_INFO_PEER). */
static void put(struct nlmsghdr *n, const void *data, size_t len) {
  char *at = (char *)n + NLMSG_ALIGN(n->nlmsg_len);
  memcpy(at, data, len);
  n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + NLMSG_ALIGN(len);
}

static struct rtattr *attr(struct nlmsghdr *n, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len > 0) memcpy(RTA_DATA(a), data, len);
  n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_SPACE(len);
  return a;
}

static void attr_str(struct nlmsghdr *n, unsigned short type, const char *s) { attr(n, type, s, strlen(s) + 1); }

static void attr_u32(struct nlmsghdr *n, unsigned short type, uint32_t v) { attr(n, type, &v, sizeof v); }

static void nest_end(struct nlmsghdr *n, struct rtattr *nest) { nest->rta_len = (unsigned short)((char *)n + n->nlmsg_len - (char *)nest); }

/* Sends the request and waits for its acknowledgement: 0, or the negative errno the kernel answered. */
static int talk(int fd, struct nlmsghdr *n, uint32_t *seq) {
  n->nlmsg_seq = ++*seq;
  struct sockaddr_nl to = {.nl_family = AF_NETLINK};
  for (;;) {
    if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&to, sizeof to) >= 0) break;
    if (errno != EINTR) return -errno;
  }
  char buf[4096] __attribute__((aligned(4)));
  for (;;) {
    ssize_t got = recv(fd, buf, sizeof buf, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    int len = (int)got;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != n->nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

static int fail(struct wire_failure *f, int err, const char *step, const char *subject) {
  f->err = err;
  f->step = step;
  snprintf(f->subject, sizeof f->subject, "%s", subject ? subject : "");
  return -1;
}

/* Runs the request; on a refusal records it against `subject`. */
static int request(int fd, struct nlmsghdr *n, uint32_t *seq, struct wire_failure *f, const char *step, const char *subject) {
  int rc = talk(fd, n, seq);
  return rc == 0 ? 0 : fail(f, -rc, step, subject);
}

static int index_of(const char *name, struct wire_failure *f) {
  unsigned int i = if_nametoindex(name);
  if (i == 0) fail(f, errno ? errno : ENODEV, "if_nametoindex", name);
  return (int)i;
}

static int link_up(int fd, uint32_t *seq, int index, int master, struct wire_failure *f, const char *name) {
  struct request r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  struct nlmsghdr *n = begin(&r, RTM_NEWLINK, 0, &ifi, sizeof ifi);
  if (master > 0) attr_u32(n, IFLA_MASTER, (uint32_t)master);
  return request(fd, n, seq, f, "RTM_NEWLINK", name);
}

struct inside {
  const char *nspath;
  const struct wire_spec *spec;
  int hostns;
  struct wire_failure *f;
  int rc;
};

/* The namespace's part, on a thread that enters the namespace and ends there. */
static void *inside_thread(void *arg) {
  struct inside *in = arg;
  const struct wire_spec *spec = in->spec;
  struct wire_failure *f = in->f;
  in->rc = -1;
  int ns = open(in->nspath, O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    fail(f, errno, "open", in->nspath);
    return NULL;
  }
  if (setns(ns, CLONE_NEWNET) != 0) {
    fail(f, errno, "setns", in->nspath);
    close(ns);
    return NULL;
  }
  close(ns);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    fail(f, errno, "socket", "netlink");
    return NULL;
  }
  uint32_t seq = 0;
  struct request r;
  int index;
  if (spec->loopback && ((index = index_of("lo", f)) <= 0 || link_up(fd, &seq, index, 0, f, "lo") != 0)) goto out;
  for (int i = 0; i < spec->nlinks; i++) {
    const struct wire_link *l = &spec->links[i];
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    struct nlmsghdr *n = begin(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
    attr_str(n, IFLA_IFNAME, l->ifname);
    attr_u32(n, IFLA_MTU, l->mtu);
    attr(n, IFLA_ADDRESS, l->mac, sizeof l->mac);
    struct rtattr *info = attr(n, IFLA_LINKINFO, NULL, 0);
    attr(n, IFLA_INFO_KIND, "veth", 4);
    struct rtattr *data = attr(n, IFLA_INFO_DATA, NULL, 0);
    struct rtattr *peer = attr(n, VETH_INFO_PEER, NULL, 0);
    struct ifinfomsg peer_ifi = {.ifi_family = AF_UNSPEC};
    put(n, &peer_ifi, sizeof peer_ifi);
    attr_str(n, IFLA_IFNAME, l->hostif);
    attr_u32(n, IFLA_MTU, l->mtu);
    attr_u32(n, IFLA_NET_NS_FD, (uint32_t)in->hostns);
    nest_end(n, peer);
    nest_end(n, data);
    nest_end(n, info);
    if (request(fd, n, &seq, f, "RTM_NEWLINK", l->ifname) != 0) goto out;
    if ((index = index_of(l->ifname, f)) <= 0) goto out;
    struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = l->prefix, .ifa_index = (uint32_t)index};
    n = begin(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
    attr(n, IFA_LOCAL, &l->address, 4);
    attr(n, IFA_ADDRESS, &l->address, 4);
    if (request(fd, n, &seq, f, "RTM_NEWADDR", l->ifname) != 0) goto out;
    if (link_up(fd, &seq, index, 0, f, l->ifname) != 0) goto out;
  }
  if (spec->has_gateway) {
    struct rtmsg rt = {.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST};
    struct nlmsghdr *n = begin(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
    attr(n, RTA_GATEWAY, &spec->gateway, 4);
    if (request(fd, n, &seq, f, "RTM_NEWROUTE", "default") != 0) goto out;
  }
  in->rc = 0;
out:
  close(fd);
  return NULL;
}

int wire_namespace(const char *nspath, const struct wire_spec *spec, struct wire_failure *f) {
  memset(f, 0, sizeof *f);
  if (spec->nlinks < 0 || spec->nlinks > WIRE_MAX_LINKS) return fail(f, EINVAL, "wire", "links");
  int hostns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (hostns < 0) return fail(f, errno, "open", "/proc/thread-self/ns/net");
  struct inside in = {.nspath = nspath, .spec = spec, .hostns = hostns, .f = f, .rc = -1};
  pthread_t thread;
  int e = pthread_create(&thread, NULL, inside_thread, &in);
  if (e != 0) {
    close(hostns);
    return fail(f, e, "pthread_create", nspath);
  }
  pthread_join(thread, NULL);
  close(hostns);
  if (in.rc != 0) return -1;
  if (spec->nlinks == 0) return 0;
  /* The daemon's part: each host end onto its bridge, up. */
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return fail(f, errno, "socket", "netlink");
  uint32_t seq = 0;
  int rc = 0;
  for (int i = 0; i < spec->nlinks && rc == 0; i++) {
    const struct wire_link *l = &spec->links[i];
    int index = index_of(l->hostif, f);
    int master = index > 0 ? index_of(l->bridge, f) : -1;
    rc = master > 0 ? link_up(fd, &seq, index, master, f, l->hostif) : -1;
  }
  close(fd);
  return rc;
}
