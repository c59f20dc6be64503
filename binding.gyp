{
  "targets": [
    {
      "target_name": "wharf_sys",
      "sources": ["native/wharf_sys.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
