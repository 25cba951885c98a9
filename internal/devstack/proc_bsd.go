//go:build unix && !linux

package devstack

import "syscall"

// sysProcAttr returns the attributes of the initdb and postgres processes:
// run as user as (nil: as this process's user), in their own process group
// (so a Ctrl-C in the terminal reaches only this process, which then stops
// them in order).
func sysProcAttr(as *runAs) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: credential(as), Setpgid: true}
}

// processCwd returns the working directory of process pid, if readable: it
// is not, on this system.
func processCwd(int) (string, bool) { return "", false }

// processCmdline returns the command line of process pid, if readable: it
// is not, on this system.
func processCmdline(int) (string, bool) { return "", false }
