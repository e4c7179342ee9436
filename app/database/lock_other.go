//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package database

// lockDir is a no-op where flock is not available: start the first server
// alone there before starting others on the same SQLite file.
func lockDir(string) (func(), error) { return func() {}, nil }
