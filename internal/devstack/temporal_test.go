package devstack_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/internal/devstack"
)

const testTaskQueue = "devstack-test"

var (
	saKey   = temporal.NewSearchAttributeKeyKeyword("DevstackKey")
	saStep  = temporal.NewSearchAttributeKeyKeyword("DevstackStep")
	saCount = temporal.NewSearchAttributeKeyInt64("DevstackCount") // added by the "second run"
)

// firstRunAttributes are the search attributes of a first run; later runs add saCount.
func firstRunAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		saKey.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		saStep.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

type greetInput struct {
	Name  string
	Count int64 // upserted as DevstackCount when non-zero
}

// greet is the test workflow: it upserts search attributes (validated by the
// history service) and returns a greeting.
func greet(ctx workflow.Context, in greetInput) (string, error) {
	updates := []temporal.SearchAttributeUpdate{saStep.ValueSet("done")}
	if in.Count != 0 {
		updates = append(updates, saCount.ValueSet(in.Count))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		return "", err
	}
	return "hello " + in.Name, nil
}

func startTemporal(t *testing.T, opts devstack.TemporalOptions) *devstack.Temporal {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("test", t.Name())
	}
	start := time.Now()
	srv, err := devstack.StartTemporal(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("temporal server started in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(srv.Stop)
	return srv
}

// dial returns a client of srv on namespace, and starts a worker for greet.
func dial(t *testing.T, srv *devstack.Temporal, namespace string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  srv.Address(),
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w := worker.New(c, testTaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(greet, workflow.RegisterOptions{Name: "greet"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return c
}

// runGreet runs greet to completion as workflow id, tagged with DevstackKey=key.
func runGreet(t *testing.T, c client.Client, id, key string, in greetInput) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             testTaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(saKey.ValueSet(key)),
	}, "greet", in)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	if want := "hello " + in.Name; got != want {
		t.Fatalf("%s returned %q, want %q", id, got, want)
	}
}

// awaitListed waits until query lists exactly the workflow IDs want
// (visibility is updated asynchronously).
func awaitListed(t *testing.T, c client.Client, namespace, query string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for {
		resp, err := c.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		if err != nil {
			t.Fatalf("list %q: %v", query, err)
		}
		got = got[:0]
		for _, e := range resp.GetExecutions() {
			got = append(got, e.GetExecution().GetWorkflowId())
		}
		slices.Sort(got)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("list %q = %v, want %v", query, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTemporalInMemory(t *testing.T) {
	t.Parallel()
	uiPort := freePort(t)
	srv := startTemporal(t, devstack.TemporalOptions{
		UIPort:           uiPort,
		Namespaces:       []string{"dev", "other"},
		SearchAttributes: firstRunAttributes(),
	})
	if !strings.HasPrefix(srv.Address(), "127.0.0.1:") {
		t.Errorf("Address = %q", srv.Address())
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d", uiPort); srv.UIURL() != want {
		t.Errorf("UIURL = %q, want %q", srv.UIURL(), want)
	}

	c := dial(t, srv, "dev")
	runGreet(t, c, "greet-1", "order:A-1", greetInput{Name: "Alice"})
	runGreet(t, c, "greet-2", "order:A-2", greetInput{Name: "Bob"})
	awaitListed(t, c, "dev", `DevstackKey = "order:A-1"`, "greet-1")
	awaitListed(t, c, "dev", `DevstackStep = "done"`, "greet-1", "greet-2")

	// The other namespace has the search attributes too, and none of the workflows.
	awaitListed(t, c, "other", `DevstackKey = "order:A-1"`)

	// The UI serves its app.
	resp, err := http.Get(srv.UIURL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Errorf("UI: %s, %.200q", resp.Status, body)
	}

	// Namespaces added later get the search attributes.
	if err := srv.AddNamespaces(t.Context(), "late"); err != nil {
		t.Fatal(err)
	}
	late := dial(t, srv, "late")
	runGreet(t, late, "greet-late", "order:L-1", greetInput{Name: "Late"})
	awaitListed(t, late, "late", `DevstackKey = "order:L-1" AND DevstackStep = "done"`, "greet-late")

	srv.Stop()
	srv.Stop() // idempotent
}

// TestTemporalFileFirstRun is the first run of TestTemporalFileRestart, in
// a process of its own, as `make dev` would be.
func TestTemporalFileFirstRun(t *testing.T) {
	dbFile := os.Getenv("DEVSTACK_TEST_DB_FILE")
	if dbFile == "" {
		t.Skip("run by TestTemporalFileRestart")
	}
	srv := startTemporal(t, devstack.TemporalOptions{
		DBFile:           dbFile,
		Namespaces:       []string{"dev"},
		SearchAttributes: firstRunAttributes(),
	})
	c := dial(t, srv, "dev")
	runGreet(t, c, "first", "receipt:R-1", greetInput{Name: "first run"})
	awaitListed(t, c, "dev", `DevstackKey = "receipt:R-1" AND DevstackStep = "done"`, "first")
}

func TestTemporalFileRestart(t *testing.T) {
	t.Parallel()
	dbFile := filepath.Join(tempDir(t), "temporal.db")

	// First run, in another process.
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTemporalFileFirstRun$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "DEVSTACK_TEST_DB_FILE="+dbFile)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestTemporalFileFirstRun") {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	if _, err := os.Stat(dbFile); err != nil {
		t.Fatalf("database file after the first run: %v", err)
	}

	// Second run, here, with one more search attribute.
	attrs := firstRunAttributes()
	attrs[saCount.GetName()] = enumspb.INDEXED_VALUE_TYPE_INT
	srv := startTemporal(t, devstack.TemporalOptions{
		DBFile:           dbFile,
		Namespaces:       []string{"dev"},
		SearchAttributes: attrs,
	})
	c := dial(t, srv, "dev")

	// The first run's workflow, its history and its search attributes are there.
	var got string
	if err := c.GetWorkflow(t.Context(), "first", "").Get(t.Context(), &got); err != nil || got != "hello first run" {
		t.Fatalf("first run's workflow result = %q, %v", got, err)
	}
	var events int
	for iter := c.GetWorkflowHistory(t.Context(), "first", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT); iter.HasNext(); {
		if _, err := iter.Next(); err != nil {
			t.Fatal(err)
		}
		events++
	}
	if events < 5 {
		t.Errorf("first run's history has %d events", events)
	}
	awaitListed(t, c, "dev", `DevstackKey = "receipt:R-1" AND DevstackStep = "done"`, "first")

	// The new search attribute is registered, and usable right away.
	resp, err := c.OperatorService().ListSearchAttributes(t.Context(), &operatorservice.ListSearchAttributesRequest{Namespace: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range attrs {
		if resp.GetCustomAttributes()[name] != typ {
			t.Errorf("search attribute %s: %v, want %v", name, resp.GetCustomAttributes()[name], typ)
		}
	}
	runGreet(t, c, "second", "receipt:R-2", greetInput{Name: "second run", Count: 7})
	awaitListed(t, c, "dev", `DevstackCount = 7`, "second")
	awaitListed(t, c, "dev", `DevstackStep = "done"`, "first", "second")
	srv.Stop()

	// A third run, with nothing new to register, starts as well.
	srv = startTemporal(t, devstack.TemporalOptions{DBFile: dbFile, Namespaces: []string{"dev"}, SearchAttributes: attrs})
	c = dial(t, srv, "dev")
	awaitListed(t, c, "dev", `DevstackStep = "done"`, "first", "second")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
