// Command kcictl runs and manages KCI container groups on OpenKCI's kcid
// or on Kingsoft Cloud: docker-run-like commands over the KCI OpenAPI.
// The commands live in internal/kcictl; 'kcictl --help' lists them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/openkci/openkci/internal/kcictl"
)

func main() {
	// Ctrl-C cancels the context: follow and watch end cleanly, and
	// run --delete-after still deletes its group.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := kcictl.Main(ctx, os.Args[1:], kcictl.OSEnv())
	stop()
	os.Exit(code)
}
