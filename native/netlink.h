/* A container's network namespace wired over rtnetlink, with no process:
 * what `ip -batch` did inside the namespace (loopback up, each veth pair made
 * with its host end sent to the daemon's namespace, addresses, links up, the
 * default route) and in the daemon's (each host end onto its bridge, up). */
#ifndef WHARF_NETLINK_H
#define WHARF_NETLINK_H

#include <net/if.h>
#include <stdint.h>

#define WIRE_MAX_LINKS 16

struct wire_link {
  char ifname[IFNAMSIZ]; /* inside the namespace */
  char hostif[IFNAMSIZ]; /* the peer, in the daemon's namespace */
  char bridge[IFNAMSIZ]; /* the host end's master */
  uint32_t address;      /* IPv4, network byte order */
  uint8_t prefix;
  uint8_t mac[6];
  uint32_t mtu;
};

struct wire_spec {
  int loopback; /* bring `lo` up */
  int nlinks;
  struct wire_link links[WIRE_MAX_LINKS];
  int has_gateway;
  uint32_t gateway; /* network byte order */
};

/* What failed: the errno, the step ("RTM_NEWLINK", "setns"...) and the name it was about. */
struct wire_failure {
  int err;
  const char *step;
  char subject[256];
};

/* Wires the namespace bound at `nspath` as `spec` says; 0, or -1 with `f`
 * filled. The calling thread never leaves its namespace: the namespace's part
 * runs on a thread of its own. */
int wire_namespace(const char *nspath, const struct wire_spec *spec, struct wire_failure *f);

#endif
