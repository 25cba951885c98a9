package devstack

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr returns the attributes of the initdb and postgres processes:
// run as user as (nil: as this process's user), in their own process group
// (so a Ctrl-C in the terminal reaches only this process, which then stops
// them in order), and asked for a fast shutdown should this process die.
func sysProcAttr(as *runAs) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: credential(as),
		Setpgid:    true,
		Pdeathsig:  syscall.SIGINT,
	}
}

// processCwd returns the working directory of process pid, if readable.
func processCwd(pid int) (string, bool) {
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	return cwd, err == nil
}

// processCmdline returns the command line of process pid, if readable.
func processCmdline(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})), err == nil
}
