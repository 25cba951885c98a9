package devstack_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/alliance/backoffice/internal/devstack"
)

// tempDir returns a temporary directory removed after the test, which (unlike
// t.TempDir's) the postgres user can reach when the tests run as root.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "devstack-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func startPostgres(t *testing.T, opts devstack.PostgresOptions) *devstack.Postgres {
	t.Helper()
	pg, err := devstack.StartPostgres(t.Context(), opts)
	if errors.Is(err, devstack.ErrNoPostgres) {
		t.Fatalf("PostgreSQL is required for this test: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	return pg
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestPostgresDataSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dataDir := filepath.Join(tempDir(t), "pg")

	pg := startPostgres(t, devstack.PostgresOptions{DataDir: dataDir})
	if want := "postgres://postgres@127.0.0.1:" + strconv.Itoa(pg.Port()) + "/app?sslmode=disable"; pg.DSN("app") != want {
		t.Errorf("DSN = %q, want %q", pg.DSN("app"), want)
	}
	if err := pg.EnsureDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := pg.EnsureDatabase(ctx, "app"); err != nil { // idempotent
		t.Fatal(err)
	}
	conn := connect(t, pg.DSN("app"))
	if _, err := conn.Exec(ctx, "CREATE TABLE product (sku text PRIMARY KEY, name text NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO product VALUES ('LIP-01', 'Rouge velours')"); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	if err := pg.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := pg.Stop(); err != nil { // idempotent
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := pgx.Connect(ctx, pg.DSN("app")); err == nil {
		t.Fatal("server still answers after Stop")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after Stop: %v", err)
	}

	pg = startPostgres(t, devstack.PostgresOptions{DataDir: dataDir})
	var name string
	if err := connect(t, pg.DSN("app")).QueryRow(ctx, "SELECT name FROM product WHERE sku = 'LIP-01'").Scan(&name); err != nil {
		t.Fatalf("row after restart: %v", err)
	}
	if name != "Rouge velours" {
		t.Errorf("name = %q after restart", name)
	}
	log, err := os.ReadFile(filepath.Join(dataDir, "postgres.log"))
	if err != nil || !strings.Contains(string(log), "ready to accept connections") {
		t.Errorf("server log: %v, %q", err, log)
	}
}

func TestPostgresParallelClusters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := tempDir(t)
	var (
		wg       sync.WaitGroup
		clusters [2]*devstack.Postgres
		errs     [2]error
	)
	for i := range clusters {
		wg.Go(func() {
			clusters[i], errs[i] = devstack.StartPostgres(ctx, devstack.PostgresOptions{
				DataDir: filepath.Join(dir, "pg"+strconv.Itoa(i)),
				Fast:    true,
			})
		})
	}
	wg.Wait()
	for i, pg := range clusters {
		if errs[i] != nil {
			t.Fatalf("cluster %d: %v", i, errs[i])
		}
		t.Cleanup(func() { _ = pg.Stop() })
	}
	if clusters[0].Port() == clusters[1].Port() {
		t.Fatalf("both clusters on port %d", clusters[0].Port())
	}

	// Template cloning, on each cluster.
	for i, pg := range clusters {
		if err := pg.EnsureDatabase(ctx, "tmpl"); err != nil {
			t.Fatal(err)
		}
		conn := connect(t, pg.DSN("tmpl"))
		if _, err := conn.Exec(ctx, "CREATE TABLE cluster (n int); INSERT INTO cluster VALUES ("+strconv.Itoa(i)+")"); err != nil {
			t.Fatal(err)
		}
		_ = conn.Close(ctx)
		if err := pg.CreateDatabaseFromTemplate(ctx, "clone", "tmpl"); err != nil {
			t.Fatal(err)
		}
		clone := connect(t, pg.DSN("clone"))
		var n int
		if err := clone.QueryRow(ctx, "SELECT n FROM cluster").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i {
			t.Errorf("cluster %d: clone holds %d", i, n)
		}
		// Dropping terminates open sessions (clone is still connected).
		if err := pg.DropDatabase(ctx, "clone"); err != nil {
			t.Fatal(err)
		}
		if err := pg.DropDatabase(ctx, "clone"); err != nil { // idempotent
			t.Fatal(err)
		}
		if _, err := pgx.Connect(ctx, pg.DSN("clone")); err == nil {
			t.Errorf("cluster %d: clone still exists after DropDatabase", i)
		}
	}
}

func TestPostgresStalePidFile(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(tempDir(t), "pg")
	pg := startPostgres(t, devstack.PostgresOptions{DataDir: dataDir, Fast: true})

	// A second server on a data directory in use is refused, clearly.
	if _, err := devstack.StartPostgres(t.Context(), devstack.PostgresOptions{DataDir: dataDir, Fast: true}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second server on the same data dir: err = %v", err)
	}
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	pidData, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}

	// A killed run leaves its pid file: with a pid now dead, or reused by
	// another program.
	_, rest, _ := strings.Cut(string(pidData), "\n")
	for _, pid := range []int{1 << 22, os.Getpid()} {
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(pid)+"\n"+rest), 0o600); err != nil {
			t.Fatal(err)
		}
		pg, err := devstack.StartPostgres(t.Context(), devstack.PostgresOptions{DataDir: dataDir, Fast: true})
		if err != nil {
			t.Fatalf("start over a stale pid file (pid %d): %v", pid, err)
		}
		if err := pg.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}
