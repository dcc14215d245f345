package errdefs

import "fmt"

// ErrNotRunning: an exec into a container that is not running (waiting,
// terminated, or its group not started yet). It is of class
// ErrFailedPrecondition; runtimes and the service wrap it with the
// container's state as the public message (Wrap(ErrFailedPrecondition,
// ErrNotRunning, ...)).
var ErrNotRunning = fmt.Errorf("container is not running: %w", ErrFailedPrecondition)
