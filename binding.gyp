{
  "targets": [
    {
      "target_name": "wharf_sys",
      "sources": ["native/wharf_sys.c", "native/netlink.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "wharf-exec",
      "type": "executable",
      "sources": ["native/wharf_exec.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "wharf-gate",
      "type": "executable",
      "sources": ["native/wharf_gate.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
