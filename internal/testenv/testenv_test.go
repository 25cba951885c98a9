package testenv_test

import (
	"context"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/db"
	"github.com/alliance/backoffice/internal/testenv"
	"github.com/alliance/backoffice/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestDB(t *testing.T) {
	migrations, err := fs.Glob(db.Migrations(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	dsns := make(chan string, 2)
	t.Run("group", func(t *testing.T) {
		for _, who := range []string{"alice", "bob"} {
			t.Run(who, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				pool, dsn := testenv.DB(t)
				dsns <- dsn
				if u, err := url.Parse(dsn); err != nil || u.Scheme != "postgres" {
					t.Errorf("DSN %q: %v", dsn, err)
				}

				// The schema is migrated.
				var applied int
				if err := pool.QueryRow(ctx, "SELECT count(*) FROM goose_db_version WHERE version_id > 0 AND is_applied").Scan(&applied); err != nil {
					t.Fatalf("migrations table: %v", err)
				}
				if applied != len(migrations) {
					t.Errorf("%d migrations applied, want %d", applied, len(migrations))
				}

				// Each test has its own database: same table name, own rows.
				if _, err := pool.Exec(ctx, "CREATE TABLE probe (who text)"); err != nil {
					t.Fatal(err)
				}
				if _, err := pool.Exec(ctx, "INSERT INTO probe VALUES ($1)", who); err != nil {
					t.Fatal(err)
				}
				time.Sleep(200 * time.Millisecond) // let the other test insert its row
				rows, err := pool.Query(ctx, "SELECT who FROM probe")
				if err != nil {
					t.Fatal(err)
				}
				var seen []string
				for rows.Next() {
					var w string
					if err := rows.Scan(&w); err != nil {
						t.Fatal(err)
					}
					seen = append(seen, w)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(seen, []string{who}) {
					t.Errorf("probe rows = %v, want [%s]", seen, who)
				}
			})
		}
	})
	close(dsns)
	var all []string
	for dsn := range dsns {
		all = append(all, dsn)
	}
	if len(all) != 2 || all[0] == all[1] {
		t.Errorf("DSNs = %v, want two different ones", all)
	}
}

// echo is the test workflow: it reports which test's worker ran it, so a
// task stolen by another test's worker would show.
type echo struct{ owner string }

func (e echo) Run(ctx workflow.Context, key string) (string, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, workflows.SAStatus.ValueSet("done")); err != nil {
		return "", err
	}
	return e.owner + ":" + key, nil
}

func TestTemporal(t *testing.T) {
	namespaces := make(chan string, 2)
	t.Run("group", func(t *testing.T) {
		for _, owner := range []string{"alice", "bob"} {
			t.Run(owner, func(t *testing.T) {
				t.Parallel()
				c, ns := testenv.Temporal(t)
				namespaces <- ns

				// Every project search attribute is registered.
				resp, err := c.OperatorService().ListSearchAttributes(t.Context(), &operatorservice.ListSearchAttributesRequest{Namespace: ns})
				if err != nil {
					t.Fatal(err)
				}
				for name, typ := range workflows.SearchAttributes() {
					if got := resp.GetCustomAttributes()[name]; got != typ {
						t.Errorf("search attribute %s: %v, want %v", name, got, typ)
					}
				}

				// Both tests run a worker on the project's task queue, with
				// the same workflow type: each must get its own tasks only.
				w := worker.New(c, workflows.TaskQueue, worker.Options{})
				w.RegisterWorkflowWithOptions(echo{owner: owner}.Run, workflow.RegisterOptions{Name: "echo"})
				if err := w.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(w.Stop)

				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				for i := range 5 {
					key := owner + "-" + string(rune('0'+i))
					run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
						ID:                    "echo:" + key,
						TaskQueue:             workflows.TaskQueue,
						TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SAEntity.ValueSet("echo"), workflows.SAKey.ValueSet(key)),
					}, "echo", key)
					if err != nil {
						t.Fatal(err)
					}
					var got string
					if err := run.Get(ctx, &got); err != nil {
						t.Fatal(err)
					}
					if want := owner + ":" + key; got != want {
						t.Errorf("workflow %s returned %q, want %q", key, got, want)
					}
				}

				// Visibility, by search attribute, sees this test's workflows only.
				query := `BoEntity = "echo" AND BoStatus = "done"`
				deadline := time.Now().Add(30 * time.Second)
				for {
					list, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, Query: query})
					if err != nil {
						t.Fatal(err)
					}
					var ids []string
					for _, e := range list.GetExecutions() {
						ids = append(ids, e.GetExecution().GetWorkflowId())
					}
					if len(ids) == 5 && !slices.ContainsFunc(ids, func(id string) bool { return !strings.HasPrefix(id, "echo:"+owner) }) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s lists %v", query, ids)
					}
					time.Sleep(100 * time.Millisecond)
				}
			})
		}
	})
	close(namespaces)
	var all []string
	for ns := range namespaces {
		all = append(all, ns)
	}
	if len(all) != 2 || all[0] == all[1] {
		t.Errorf("namespaces = %v, want two different ones", all)
	}
}
