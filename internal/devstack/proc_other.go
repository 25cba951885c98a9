//go:build !unix

package devstack

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// sysProcAttr returns the attributes of the initdb and postgres processes.
func sysProcAttr(*runAs) *syscall.SysProcAttr { return nil }

// processAlive reports whether process pid exists: on this system, it
// assumes so.
func processAlive(int) (alive, otherUser bool) { return true, false }

// processCwd returns the working directory of process pid, if readable: it
// is not, on this system.
func processCwd(int) (string, bool) { return "", false }

// fileOwner returns the owning user and group of fi: unknown on this system.
func fileOwner(fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }

// signalQuit asks a PostgreSQL server for an immediate shutdown: not
// possible on this system.
func signalQuit(*os.Process) error { return errors.ErrUnsupported }

// processCmdline returns the command line of process pid, if readable: it
// is not, on this system.
func processCmdline(int) (string, bool) { return "", false }
