//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package database

import (
	"errors"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on dir, waiting for any other holder,
// and returns its release. The kernel drops the lock if the process dies.
func lockDir(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
