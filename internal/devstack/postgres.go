package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoPostgres is returned (wrapped) by StartPostgres when no PostgreSQL
// server binaries can be found on this machine.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries (initdb, postgres) found in PATH or /usr/lib/postgresql/*/bin; " +
	"either install PostgreSQL (e.g. `apt-get install postgresql`, or `brew install postgresql@15` on macOS), " +
	"or set DATABASE_URL to an existing PostgreSQL server, " +
	"or, where a Docker engine is available, run `docker compose up -d postgres` and set DATABASE_URL to it")

const (
	// postgresSuperuser is the bootstrap superuser initdb creates (-U).
	postgresSuperuser = "postgres"
	// postgresLogFile is the file, inside the data directory, the server's
	// log is appended to.
	postgresLogFile = "postgres.log"
	// postgresReadyTimeout bounds how long StartPostgres waits for the server
	// to accept connections (crash recovery after a killed run included).
	postgresReadyTimeout = 2 * time.Minute
	// postgresStopTimeout is how long Stop waits after a fast shutdown request
	// before escalating to an immediate shutdown, then to SIGKILL.
	postgresStopTimeout = 30 * time.Second
	// maxUnixSocketPath is the portable limit on a unix socket path (sun_path).
	maxUnixSocketPath = 103
)

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// DataDir is the cluster's data directory. It is created and initialised
	// (initdb) when it holds no cluster yet, and reused otherwise.
	DataDir string
	// Port is the TCP port to listen on, on 127.0.0.1 only. 0 picks a free port.
	Port int
	// Fast trades durability for speed (fsync, synchronous_commit and
	// full_page_writes off, initdb --no-sync): for throwaway test clusters.
	Fast bool
	// Logger receives the server's log lines (LOG and below at Debug,
	// WARNING at Warn, ERROR and above at Error). Nil discards them. The log is
	// always appended to postgres.log in DataDir too.
	Logger *slog.Logger
}

// Postgres is a PostgreSQL server running as a child process of this one,
// started by StartPostgres.
type Postgres struct {
	dataDir  string
	port     int
	version  int // server_version_num, e.g. 150004
	logger   *slog.Logger
	sockDir  string // temporary socket directory to remove on Stop, if any
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the server process has been reaped
	exitErr  error         // the process's exit status; read after exited is closed
	sink     *logSink
	admin    *pgxpool.Pool // maintenance connections to the "postgres" database
	stopOnce sync.Once
	stopErr  error
}

// runAs is the system user the server runs as when this process is root.
type runAs struct {
	name string
	uid  int
	gid  int
	gids []int // primary and supplementary groups
}

// StartPostgres starts a project-local PostgreSQL server on opts.DataDir,
// creating the cluster first when the directory holds none, and waits until
// it accepts connections. The server listens on 127.0.0.1 only and accepts
// the "postgres" superuser without a password.
//
// When this process runs as root, the server (which refuses to run as root)
// runs as the "postgres" system user, which must be able to reach DataDir.
// The server is stopped by Stop; it is not tied to ctx, which only bounds
// the start-up. If this process dies without calling Stop, the server is
// asked to shut down too (on Linux).
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.DataDir == "" {
		return nil, errors.New("start postgres: DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("start postgres: data dir: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	binDir, err := findPostgresBinDir()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	as, err := serverUser()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if err := prepareDataDir(dataDir, as); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		start := time.Now()
		if err := initdb(ctx, binDir, dataDir, as, opts.Fast); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
		logger.Debug("postgres: cluster initialised", "data_dir", dataDir, "took", time.Since(start))
	} else if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if err := clearStalePidFile(dataDir, as); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}

	sockDir, tempSockDir, err := socketDir(dataDir, as)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	sink, err := newLogSink(filepath.Join(dataDir, postgresLogFile), logger)
	if err != nil {
		if tempSockDir {
			_ = os.RemoveAll(sockDir)
		}
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	p := &Postgres{dataDir: dataDir, logger: logger, sink: sink}
	if tempSockDir {
		p.sockDir = sockDir
	}

	// A free port picked here may be taken by someone else before the server
	// binds it (e.g. another cluster starting in parallel): then pick again.
	const attempts = 5
	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort("127.0.0.1"); err != nil {
				p.cleanupFailedStart()
				return nil, fmt.Errorf("start postgres: %w", err)
			}
		}
		err = p.start(ctx, binDir, port, sockDir, as, opts.Fast)
		if err == nil {
			break
		}
		if opts.Port == 0 && attempt < attempts && errors.Is(err, errPortInUse) {
			logger.Debug("postgres: port taken, retrying", "port", port)
			continue
		}
		p.cleanupFailedStart()
		return nil, fmt.Errorf("start postgres on %s: %w", dataDir, err)
	}
	logger.Info("postgres: ready", "port", p.port, "data_dir", dataDir)
	return p, nil
}

// errPortInUse reports that the server could not bind its TCP port.
var errPortInUse = errors.New("port already in use")

// start launches the server on port and waits until it accepts connections.
// On failure, the process (if any) is gone when start returns.
func (p *Postgres) start(ctx context.Context, binDir string, port int, sockDir string, as *runAs, fast bool) error {
	args := []string{
		"-D", p.dataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + sockDir,
		"-c", "logging_collector=off",
	}
	if fast {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	cmd.Dir = p.dataDir
	cmd.Env = serverEnv()
	cmd.Stdout = p.sink
	cmd.Stderr = p.sink
	cmd.SysProcAttr = sysProcAttr(as)

	p.sink.resetReady()
	exited := make(chan struct{})
	if err := startAndReap(cmd, exited, &p.exitErr); err != nil {
		return fmt.Errorf("run %s: %w", cmd.Path, err)
	}
	p.cmd, p.exited, p.port = cmd, exited, port

	fail := func(err error) error {
		p.kill()
		return err
	}
	timeout := time.NewTimer(postgresReadyTimeout)
	defer timeout.Stop()
	select {
	case <-p.sink.ready:
	case <-exited:
		tail := p.sink.tail()
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "already in use") {
			return fmt.Errorf("%w: 127.0.0.1:%d:\n%s", errPortInUse, port, tail)
		}
		return fmt.Errorf("server exited during start-up (%v); its log:\n%s", p.exitErr, tail)
	case <-timeout.C:
		return fail(fmt.Errorf("server not ready after %v; its log:\n%s", postgresReadyTimeout, p.sink.tail()))
	case <-ctx.Done():
		return fail(fmt.Errorf("waiting for the server: %w", ctx.Err()))
	}

	cfg, err := pgxpool.ParseConfig(p.DSN("postgres"))
	if err != nil {
		return fail(fmt.Errorf("admin pool config: %w", err))
	}
	cfg.MaxConns = 4
	admin, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fail(fmt.Errorf("admin pool: %w", err))
	}
	var versionNum string
	if err := admin.QueryRow(ctx, "SHOW server_version_num").Scan(&versionNum); err != nil {
		admin.Close()
		return fail(fmt.Errorf("query server version: %w", err))
	}
	p.version, _ = strconv.Atoi(versionNum)
	p.admin = admin
	return nil
}

// DSN returns the connection URL of database dbname on this server, as the
// superuser "postgres".
func (p *Postgres) DSN(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(postgresSuperuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on (on 127.0.0.1).
func (p *Postgres) Port() int { return p.port }

// DataDir returns the absolute path of the cluster's data directory.
func (p *Postgres) DataDir() string { return p.dataDir }

// EnsureDatabase creates database name unless it already exists.
func (p *Postgres) EnsureDatabase(ctx context.Context, name string) error {
	var exists bool
	if err := p.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("ensure database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := p.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil && !isPgCode(err, "42P04") { // duplicate_database: created concurrently
		return fmt.Errorf("ensure database %q: %w", name, err)
	}
	return nil
}

// CreateDatabaseFromTemplate creates database name as a file-level copy of
// database template, which is fast for small databases. The template must
// have no open connections.
func (p *Postgres) CreateDatabaseFromTemplate(ctx context.Context, name, template string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	if p.version >= 150000 { // FILE_COPY is the only (and default) strategy before 15
		sql += " STRATEGY FILE_COPY"
	}
	if _, err := p.admin.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %q from template %q: %w", name, template, err)
	}
	return nil
}

// DropDatabase drops database name, if it exists, terminating any
// connections to it first.
func (p *Postgres) DropDatabase(ctx context.Context, name string) error {
	if _, err := p.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %q: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (a "fast" shutdown: open sessions are
// terminated, data is checkpointed) and waits for its process to exit,
// escalating to an immediate shutdown and then SIGKILL if it hangs. It is
// safe to call more than once; the data directory is kept.
func (p *Postgres) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Postgres) stop() error {
	if p.admin != nil {
		p.admin.Close()
	}
	var err error
	select {
	case <-p.exited:
		if p.exitErr != nil {
			err = fmt.Errorf("stop postgres: server had already exited: %w", p.exitErr)
		} else {
			err = errors.New("stop postgres: server had already exited")
		}
	default:
		if !p.shutdown() {
			err = fmt.Errorf("stop postgres: server did not shut down within %v and was killed", postgresStopTimeout)
		}
	}
	p.cleanup()
	if err == nil {
		p.logger.Debug("postgres: stopped", "data_dir", p.dataDir)
	}
	return err
}

// shutdown asks for a fast shutdown and waits; it escalates to an immediate
// shutdown (SIGQUIT), then SIGKILL. It reports whether the fast shutdown
// sufficed.
func (p *Postgres) shutdown() bool {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		p.kill()
		return false
	}
	select {
	case <-p.exited:
		return true
	case <-time.After(postgresStopTimeout):
	}
	p.kill()
	return false
}

// kill stops the server without a checkpoint and waits until it is gone.
func (p *Postgres) kill() {
	if err := signalQuit(p.cmd.Process); err == nil {
		select {
		case <-p.exited:
			return
		case <-time.After(5 * time.Second):
		}
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// cleanupFailedStart releases what StartPostgres set up before it failed.
func (p *Postgres) cleanupFailedStart() {
	p.cleanup()
}

func (p *Postgres) cleanup() {
	_ = p.sink.Close()
	if p.sockDir != "" {
		_ = os.RemoveAll(p.sockDir)
	}
}

// findPostgresBinDir returns the directory holding initdb and postgres: the
// one initdb is found in on PATH, else the highest-versioned
// /usr/lib/postgresql/*/bin (Debian and Ubuntu do not put them on PATH).
func findPostgresBinDir() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		// Resolve symlinks (e.g. /usr/local/bin/initdb) to the real bin
		// directory, where postgres and the share files are relative to it.
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		if dir := filepath.Dir(path); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", ErrNoPostgres
}

// serverUser returns the user to run the server as: nil (this process's own
// user) unless this process is root, which PostgreSQL refuses to run as.
func serverUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, which PostgreSQL refuses to run as, and no %q system user to run it as "+
			"(create one, e.g. `useradd --system postgres`, or run as a normal user): %w", "postgres", err)
	}
	as := &runAs{name: u.Username}
	if as.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %w", u.Username, u.Uid, err)
	}
	if as.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("user %q: gid %q: %w", u.Username, u.Gid, err)
	}
	as.gids = []int{as.gid}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if gid, err := strconv.Atoi(id); err == nil {
				as.gids = append(as.gids, gid)
			}
		}
	}
	return as, nil
}

// prepareDataDir creates dataDir (mode 0700) if needed and, when the server
// runs as another user, checks that user can reach it and owns it.
func prepareDataDir(dataDir string, as *runAs) error {
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
		return fmt.Errorf("create data dir parent: %w", err)
	}
	if err := os.Mkdir(dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create data dir: %w", err)
	}
	if as == nil {
		return nil
	}
	for dir := filepath.Dir(dataDir); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("check data dir: %w", err)
		}
		if !canTraverse(fi, as) {
			return fmt.Errorf("PostgreSQL cannot run as root, so it runs as the %q user, but that user cannot reach the data dir %s "+
				"because %s (mode %v) is not traversable by it: use a data dir it can reach, "+
				"or make the directory traversable (`chmod o+x %s`)", as.name, dataDir, dir, fi.Mode().Perm(), dir)
		}
		if parent := filepath.Dir(dir); parent == dir {
			break
		}
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("check data dir: %w", err)
	}
	if uid, _, ok := fileOwner(fi); ok && uid == as.uid {
		return nil
	}
	// Created just now by this (root) process, or by an earlier root run.
	err = filepath.WalkDir(dataDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, as.uid, as.gid)
	})
	if err != nil {
		return fmt.Errorf("give data dir to user %q: %w", as.name, err)
	}
	return nil
}

// canTraverse reports whether user as may search directory fi, from its
// permission bits (ACLs are not considered).
func canTraverse(fi fs.FileInfo, as *runAs) bool {
	uid, gid, ok := fileOwner(fi)
	if !ok {
		return true // cannot tell: let the server report a failure
	}
	perm := fi.Mode().Perm()
	switch {
	case uid == as.uid:
		return perm&0o100 != 0
	case slices.Contains(as.gids, gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// initdb creates a new cluster in dataDir, which must be empty. It builds
// it in a sibling directory first, so that an interrupted initdb never
// leaves a half-made cluster behind.
func initdb(ctx context.Context, binDir, dataDir string, as *runAs, fast bool) error {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("data dir %s holds no PostgreSQL cluster (no PG_VERSION) but is not empty: empty it, or use another", dataDir)
	}
	tmpDir := dataDir + ".initdb"
	if err := os.RemoveAll(tmpDir); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	if err := os.Mkdir(tmpDir, 0o700); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	defer os.RemoveAll(tmpDir) // on failure
	if as != nil {
		if err := os.Chown(tmpDir, as.uid, as.gid); err != nil {
			return fmt.Errorf("initdb: %w", err)
		}
	}
	args := []string{
		"-D", tmpDir,
		"-U", postgresSuperuser,
		"-A", "trust",
		"-E", "UTF8",
		"--locale=C",
	}
	if fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), args...)
	cmd.Dir = tmpDir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = sysProcAttr(as)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb %s: %w:\n%s", dataDir, err, strings.TrimSpace(out.String()))
	}
	// Move the cluster into the data dir (which may be a mount point, so
	// not replaced), PG_VERSION last: it marks a complete cluster.
	created, err := os.ReadDir(tmpDir)
	if err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	names := make([]string, 0, len(created))
	for _, e := range created {
		if e.Name() != "PG_VERSION" {
			names = append(names, e.Name())
		}
	}
	for _, name := range append(names, "PG_VERSION") {
		if err := os.Rename(filepath.Join(tmpDir, name), filepath.Join(dataDir, name)); err != nil {
			return fmt.Errorf("initdb: %w", err)
		}
	}
	return nil
}

// serverEnv is the environment for initdb and postgres: this process's,
// without the PG* variables that could redirect them (PGDATA, PGPORT, ...),
// and with untranslated messages, which logSink parses.
func serverEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	return append(env, "LC_ALL=C")
}

// clearStalePidFile removes the postmaster.pid a killed earlier run may have
// left, unless a server really is running on dataDir, which is an error.
func clearStalePidFile(dataDir string, as *runAs) error {
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	data, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read %s: %w", pidFile, err)
	}
	firstLine, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(firstLine))
	if err == nil && pid > 0 && postmasterRunning(pid, dataDir, as) {
		return fmt.Errorf("a PostgreSQL server (pid %d) is already running on %s, probably left behind by an earlier run: "+
			"stop it (`kill -INT %d`) and try again; if there is no such server, delete %s", pid, dataDir, pid, pidFile)
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", pidFile, err)
	}
	return nil
}

// postmasterRunning reports whether process pid may be a server running on
// dataDir (when it cannot tell, it says yes).
func postmasterRunning(pid int, dataDir string, as *runAs) bool {
	alive, otherUser := processAlive(pid)
	if !alive || (otherUser && as == nil) {
		// A process of another user cannot be our server when it would
		// run as ourselves.
		return false
	}
	if cmdline, ok := processCmdline(pid); ok && !strings.Contains(cmdline, "postgres") {
		return false // the pid has been reused by another program
	}
	if cwd, ok := processCwd(pid); ok {
		// The server chdirs to its data directory.
		real, err := filepath.EvalSymlinks(dataDir)
		if err != nil {
			real = dataDir
		}
		return cwd == real || cwd == dataDir
	}
	return true
}

// socketDir picks the directory for the server's unix socket: dataDir itself
// when its path is short enough, else a new temporary directory.
func socketDir(dataDir string, as *runAs) (dir string, temp bool, err error) {
	if len(dataDir)+len("/.s.PGSQL.65535.lock") <= maxUnixSocketPath {
		return dataDir, false, nil
	}
	dir, err = os.MkdirTemp("", "pgsock")
	if err != nil {
		return "", false, fmt.Errorf("socket dir: %w", err)
	}
	if as != nil {
		if err := os.Chown(dir, as.uid, as.gid); err != nil {
			_ = os.RemoveAll(dir)
			return "", false, fmt.Errorf("socket dir: %w", err)
		}
	}
	return dir, true, nil
}

// startAndReap starts cmd and reaps it in a goroutine that sets *exitErr and
// closes exited once the process is gone. The goroutine holds its OS thread
// until then: on Linux the child's parent-death signal fires when the thread
// that started it exits, which must not happen while the child runs.
func startAndReap(cmd *exec.Cmd, exited chan<- struct{}, exitErr *error) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		*exitErr = cmd.Wait()
		close(exited)
	}()
	return <-started
}

// freePort returns a TCP port on ip that is free right now.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// isPgCode reports whether err is a PostgreSQL error with SQLSTATE code.
func isPgCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// logSink receives the server's output: it appends it to a log file, keeps
// the last lines for error messages, forwards lines to a logger, and notices
// when the server is ready.
type logSink struct {
	mu      sync.Mutex
	file    *os.File
	logger  *slog.Logger
	partial []byte
	lines   []string // last lines, at most logTailLines
	level   slog.Level
	ready   chan struct{}
	isReady bool
}

const logTailLines = 40

func newLogSink(path string, logger *slog.Logger) (*logSink, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open server log: %w", err)
	}
	return &logSink{file: f, logger: logger, ready: make(chan struct{})}, nil
}

// resetReady re-arms readiness detection before a (re)start.
func (s *logSink) resetReady() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready, s.isReady, s.lines = make(chan struct{}), false, nil
}

// Write implements io.Writer.
func (s *logSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.file.Write(b)
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	return len(b), nil
}

func (s *logSink) line(line string) {
	if len(s.lines) == logTailLines {
		s.lines = s.lines[1:]
	}
	s.lines = append(s.lines, line)
	if !s.isReady && strings.Contains(line, "database system is ready to accept connections") {
		s.isReady = true
		close(s.ready)
	}
	msg, at := line, -1
	for _, sev := range []struct {
		marker string
		level  slog.Level
	}{
		{"LOG:  ", slog.LevelDebug}, {"DEBUG", slog.LevelDebug}, {"INFO:  ", slog.LevelDebug}, {"NOTICE:  ", slog.LevelDebug},
		{"WARNING:  ", slog.LevelWarn}, {"ERROR:  ", slog.LevelError}, {"FATAL:  ", slog.LevelError}, {"PANIC:  ", slog.LevelError},
	} {
		if i := strings.Index(line, sev.marker); i >= 0 && (at < 0 || i < at) {
			at, s.level, msg = i, sev.level, line[i:]
		}
	}
	// Without a severity, it is a continuation line (DETAIL, HINT,
	// STATEMENT ...) and keeps the previous line's level.
	s.logger.Log(context.Background(), s.level, "postgres: "+msg)
}

// tail returns the last lines of the server's output.
func (s *logSink) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// Close closes the log file.
func (s *logSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file.Close()
}

var _ io.Writer = (*logSink)(nil)
