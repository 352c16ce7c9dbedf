"""The bubblewrap command every bench compares with (benches/sandbox.sh
spells the same flags in shell): all namespaces, a new session, no
capabilities, uid/gid 65534, read-only /usr and the merged-usr symlinks,
the dynamic linker's cache, tmpfs /tmp, fresh /proc and /dev."""
BWRAP = ("bwrap --unshare-all --die-with-parent --new-session --cap-drop ALL "
         "--uid 65534 --gid 65534 "
         "--ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/sbin /sbin "
         "--symlink usr/lib /lib --symlink usr/lib64 /lib64 "
         "--ro-bind /etc/ld.so.cache /etc/ld.so.cache "
         "--tmpfs /tmp --proc /proc --dev /dev /bin/true").split()
