// Package arch holds no code: its tests enforce the project's structure —
// which packages may import which (the layering in docs/architecture.md),
// a package comment on every package, and a version stamped into both
// binaries by `make build`.
package arch
