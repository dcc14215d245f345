// Package supervisor gives kcid a containerd to talk to. It owns the
// containerd that kcid starts itself — the one whose root, state, config,
// log and pid file live in <data dir>/containerd — and nothing else:
//
//   - Ensure uses the containerd that answers at the configured address
//     (kcid's --containerd-address, /run/containerd/containerd.sock by
//     default) as is, without managing it.
//   - Otherwise, as k3s does, it runs kcid's own: it adopts the one an
//     earlier kcid left running (found by its pid file), or starts one
//     (`containerd --config <data dir>/containerd/config.toml`, CRI plugin
//     disabled), waits until it answers, and supervises it — restarting it
//     with back-off (1 s doubling to 30 s) when it exits unexpectedly —
//     until the returned stop function terminates it.
//   - Ping is the health check: containerd's gRPC Version call, made with the
//     standard library alone (cleartext HTTP/2 over the unix socket).
//
// Layout under <data dir>/containerd:
//
//	config.toml      written at every start
//	root/            containerd's root (content, snapshots, metadata)
//	state/           containerd's state (task bundles)
//	opt/             containerd's "opt" plugin directory
//	containerd.sock  gRPC socket (and containerd.sock.ttrpc); when the path
//	                 would be too long for a unix socket (108 bytes), both
//	                 live in /run/kcid-<hash of the directory>/ instead
//	containerd.log   containerd's stdout and stderr (rotated once at 16 MiB)
//	containerd.pid   pid of the running daemon, removed on orderly stop
//	supervisor.lock  flock held while a kcid decides whether to start one
//
// Lifetimes. The daemon is its own process group (Setpgid): a Ctrl-C at
// kcid's terminal reaches kcid only, which then stops containerd in order
// through stop. Stopping containerd (SIGTERM, SIGKILL after 10 s) does not
// stop the containers: each task runs under its containerd-shim, which is
// its own process group too and outlives containerd; the next containerd
// with the same root and state reconnects to the shims. So kcid stopping —
// even stopping its containerd — leaves the groups running. If kcid dies
// without stopping (SIGKILL, crash), containerd keeps running (re-parented
// to init); the next kcid finds it through the pid file and the socket,
// adopts it and supervises it instead of starting a second daemon on the
// same root. A pid file whose process is gone (or is not kcid's containerd)
// is stale: it is removed, with the stale socket files, before starting.
//
// Caveats: starting containerd needs root; runc's own state directory
// (/run/containerd/runc/<namespace>) is shared with any system containerd,
// so kcid's namespace must not be used by another daemon on the host.
package supervisor
