// Package testenv gives integration tests real back-end services: a
// PostgreSQL database migrated to the current schema, fresh for each test,
// and a Temporal namespace of their own on an embedded server.
//
// A package using it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// and its tests call DB and Temporal. Each test binary starts its own
// throwaway PostgreSQL cluster and Temporal server, lazily, on first use, and
// stops them when the tests are done. Both helpers are safe in parallel
// tests.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/alliance/backoffice/db"
	"github.com/alliance/backoffice/internal/devstack"
	"github.com/alliance/backoffice/workflows"
)

const (
	// templateDB is the migrated database every test database is cloned from.
	templateDB = "testenv_template"
	// namespaceBatch is how many Temporal namespaces are created at a time:
	// at server start, then whenever they have all been handed out.
	namespaceBatch = 64
	// startTimeout bounds the start of the PostgreSQL cluster (migrations
	// included) and of the Temporal server.
	startTimeout = 3 * time.Minute
	// tempDirPrefix names this package's temporary directories.
	tempDirPrefix = "backoffice-testenv-"
)

// current is the environment Main set up for this test binary. It has to be
// a package variable: tests reach it only through the DB and Temporal calls.
var current atomic.Pointer[env]

// env holds the services of one test binary, each started on first use.
type env struct {
	tempDir string
	dbSeq   atomic.Int64

	pgOnce sync.Once
	pg     *devstack.Postgres
	pgErr  error

	temporalOnce sync.Once
	temporal     *devstack.Temporal
	temporalErr  error

	nsMu   sync.Mutex
	nsFree []string // namespaces not handed out yet
	nsNext int      // number of the next namespace to create
}

// Main runs the tests of a package, for its TestMain: it runs m, then stops
// the PostgreSQL cluster and the Temporal server if tests started them,
// removes their files, and exits with the tests' exit code.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	sweepTempDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", tempDirPrefix, os.Getpid()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	// When tests run as root, PostgreSQL runs as the postgres user, which
	// must be able to reach its data directory inside.
	if err := os.Chmod(dir, 0o711); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	e := &env{tempDir: dir}
	current.Store(e)
	code := m.Run()
	current.Store(nil)
	if err := e.close(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// close stops the services and removes their files.
func (e *env) close() error {
	var errs []error
	e.temporalOnce.Do(func() {}) // no start from now on
	if e.temporal != nil {
		e.temporal.Stop()
	}
	e.pgOnce.Do(func() {})
	if e.pg != nil {
		if err := e.pg.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(e.tempDir); err != nil {
		errs = append(errs, fmt.Errorf("remove temporary files: %w", err))
	}
	return errors.Join(errs...)
}

// mustEnv returns the environment Main set up, or fails the test.
func mustEnv(t testing.TB) *env {
	t.Helper()
	e := current.Load()
	if e == nil {
		t.Fatal("testenv: Main was not called: add `func TestMain(m *testing.M) { testenv.Main(m) }` to this package's tests")
	}
	return e
}

// DB returns a connection pool to a new database, migrated to the current
// schema, for this test only, and its connection URL. The pool is closed and
// the database dropped when the test ends.
func DB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	e := mustEnv(t)
	pg, err := e.postgres()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("t%d_%s", e.dbSeq.Add(1), dbNamePart(t.Name()))
	if err := pg.CreateDatabaseFromTemplate(ctx, name, templateDB); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	dsn := pg.DSN(name)
	pool, err := db.Open(ctx, dsn)
	if err != nil {
		_ = pg.DropDatabase(ctx, name)
		t.Fatalf("testenv: database for the test: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pg.DropDatabase(ctx, name); err != nil {
			t.Errorf("testenv: %v", err)
		}
	})
	return pool, dsn
}

// postgres returns the test cluster, starting it and creating the template
// database on first use.
func (e *env) postgres() (*devstack.Postgres, error) {
	e.pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		e.pg, e.pgErr = startPostgres(ctx, filepath.Join(e.tempDir, "pg"))
	})
	if e.pg == nil && e.pgErr == nil {
		return nil, errors.New("test cluster used after the tests ended")
	}
	return e.pg, e.pgErr
}

func startPostgres(ctx context.Context, dataDir string) (*devstack.Postgres, error) {
	pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{DataDir: dataDir, Fast: true})
	if err != nil {
		return nil, fmt.Errorf("test database cluster: %w", err)
	}
	if err := createTemplate(ctx, pg); err != nil {
		_ = pg.Stop()
		return nil, fmt.Errorf("test database template: %w", err)
	}
	return pg, nil
}

// createTemplate creates the template database with every migration applied.
func createTemplate(ctx context.Context, pg *devstack.Postgres) error {
	if err := pg.EnsureDatabase(ctx, templateDB); err != nil {
		return err
	}
	if err := db.Migrate(ctx, pg.DSN(templateDB), nil); err != nil {
		return err
	}
	// Cloning fails while anyone is connected to the template: forbid it.
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{templateDB}.Sanitize()+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("mark template: %w", err)
	}
	return nil
}

// dbNamePart turns a test name into a short lower-case identifier fragment,
// so a test's database is recognisable.
func dbNamePart(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Temporal returns a client of the test binary's Temporal server on a
// namespace no other test uses, with the back office's search attributes
// registered, and the namespace's name. Tests can thus each run their own
// worker on workflows.TaskQueue without stealing each other's tasks. The
// client is closed when the test ends (stop the test's workers before:
// register their Stop with t.Cleanup after calling Temporal).
func Temporal(t testing.TB) (client.Client, string) {
	t.Helper()
	e := mustEnv(t)
	srv, err := e.temporalServer()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ns, err := e.takeNamespace(srv)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	logs := newTestLogHandler(t, slog.LevelWarn)
	c, err := client.Dial(client.Options{
		HostPort:  srv.Address(),
		Namespace: ns,
		Logger:    sdklog.NewStructuredLogger(slog.New(logs)),
	})
	if err != nil {
		t.Fatalf("testenv: temporal client: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		logs.stop()
	})
	return c, ns
}

// temporalServer returns the test Temporal server, starting it on first use.
func (e *env) temporalServer() (*devstack.Temporal, error) {
	e.temporalOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		e.nsMu.Lock()
		names := e.namespaceNames()
		e.nsMu.Unlock()
		srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{
			Namespaces:       names,
			SearchAttributes: workflows.SearchAttributes(),
			Logger:           slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "testenv-temporal"),
			LogLevel:         slog.LevelError,
		})
		if err != nil {
			e.temporalErr = fmt.Errorf("test Temporal server: %w", err)
			return
		}
		e.temporal = srv
		e.nsMu.Lock()
		e.nsFree, e.nsNext = names, e.nsNext+len(names)
		e.nsMu.Unlock()
	})
	if e.temporal == nil && e.temporalErr == nil {
		return nil, errors.New("test Temporal server used after the tests ended")
	}
	return e.temporal, e.temporalErr
}

// namespaceNames names the batch of namespaces after those created so far;
// e.nsMu must be held.
func (e *env) namespaceNames() []string {
	names := make([]string, namespaceBatch)
	for i := range names {
		names[i] = fmt.Sprintf("test-%02d", e.nsNext+i)
	}
	return names
}

// takeNamespace hands out a namespace no test has had yet, creating another
// batch when all are taken.
func (e *env) takeNamespace(srv *devstack.Temporal) (string, error) {
	e.nsMu.Lock()
	defer e.nsMu.Unlock()
	if len(e.nsFree) == 0 {
		names := e.namespaceNames()
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		if err := srv.AddNamespaces(ctx, names...); err != nil {
			return "", err // the next call tries the same names again
		}
		e.nsFree, e.nsNext = names, e.nsNext+len(names)
	}
	ns := e.nsFree[0]
	e.nsFree = e.nsFree[1:]
	return ns, nil
}

// testLogHandler is a slog.Handler writing to a test's log until stop is
// called (logging to a finished test panics).
type testLogHandler struct {
	t       testing.TB
	level   slog.Level
	attrs   []slog.Attr
	mu      *sync.RWMutex // shared with derived handlers; guards stopped
	stopped *bool
}

func newTestLogHandler(t testing.TB, level slog.Level) *testLogHandler {
	return &testLogHandler{t: t, level: level, mu: new(sync.RWMutex), stopped: new(bool)}
}

// Enabled implements slog.Handler.
func (h *testLogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level
}

// Handle implements slog.Handler.
func (h *testLogHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if *h.stopped {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "temporal client: %s %s", r.Level, r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	h.t.Log(b.String())
	return nil
}

// WithAttrs implements slog.Handler.
func (h *testLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)
	return &h2
}

// WithGroup implements slog.Handler (groups are flattened).
func (h *testLogHandler) WithGroup(string) slog.Handler { return h }

// stop makes the handler (and those derived from it) drop further records.
func (h *testLogHandler) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.stopped = true
}
