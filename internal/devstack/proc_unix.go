//go:build unix

package devstack

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// processAlive reports whether process pid exists and whether it belongs to
// another user (so that this process may not signal it).
func processAlive(pid int) (alive, otherUser bool) {
	err := syscall.Kill(pid, 0)
	switch {
	case err == nil:
		return true, false
	case errors.Is(err, syscall.EPERM):
		return true, true
	default:
		return false, false
	}
}

// fileOwner returns the owning user and group of fi.
func fileOwner(fi fs.FileInfo) (uid, gid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}

// signalQuit asks a PostgreSQL server for an immediate shutdown.
func signalQuit(p *os.Process) error {
	return p.Signal(syscall.SIGQUIT)
}

// credential returns the credential to run a child process as user as, or
// nil to run it as this process's user.
func credential(as *runAs) *syscall.Credential {
	if as == nil {
		return nil
	}
	groups := make([]uint32, 0, len(as.gids))
	for _, g := range as.gids {
		groups = append(groups, uint32(g))
	}
	return &syscall.Credential{Uid: uint32(as.uid), Gid: uint32(as.gid), Groups: groups}
}
