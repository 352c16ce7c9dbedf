"""The bubblewrap command every bench compares with (benches/sandbox.sh
spells the same flags in shell): all namespaces, a new session, no
capabilities, uid/gid 65534, read-only /usr and the merged-usr symlinks,
the dynamic linker's cache, tmpfs /tmp, fresh /proc and /dev. Also the
calls-per-second loop the throughput benches share."""
import threading
import time
BWRAP = ("bwrap --unshare-all --die-with-parent --new-session --cap-drop ALL "
         "--uid 65534 --gid 65534 "
         "--ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/sbin /sbin "
         "--symlink usr/lib /lib --symlink usr/lib64 /lib64 "
         "--ro-bind /etc/ld.so.cache /etc/ld.so.cache "
         "--tmpfs /tmp --proc /proc --dev /dev /bin/true").split()


def rate(make_client, clients, seconds):
    """Calls per second of `clients` threads, each calling one after the
    other for `seconds`; make_client(i) returns (call, close) for client i,
    and call() returns False when a call failed (the run then stops)."""
    done = [0] * clients
    failed = []
    stop = time.monotonic() + seconds

    def client(i):
        call, close = make_client(i)
        while time.monotonic() < stop and not failed:
            if call() is False:
                failed.append(i)
                break
            done[i] += 1
        close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise SystemExit(f"client {failed[0]}: a call failed")
    return sum(done) / (time.monotonic() - start)
