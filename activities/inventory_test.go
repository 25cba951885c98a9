package activities_test

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestPostReceiptIsIdempotent runs the activity twice, as Temporal does when
// a worker dies after the activity committed but before it reported: the
// stock rises once and the receipt is posted once.
func TestPostReceiptIsIdempotent(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	q := dbgen.New(pool)
	admin, err := q.GetUserByName(ctx, "demo-hq-admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.CreateStockReceipt(ctx, dbgen.CreateStockReceiptParams{
		Key: "RCV-9", WarehouseCode: "WH-CENTRAL", Lines: []byte(`[{"sku":"HY-01","qty":7}]`), CreatedBy: admin.ID,
	}); err != nil {
		t.Fatal(err)
	}
	before, err := q.GetBalance(ctx, dbgen.GetBalanceParams{WarehouseCode: "WH-CENTRAL", Sku: "HY-01"})
	if err != nil {
		t.Fatal(err)
	}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Inventory{Pool: pool})
	in := activities.PostReceiptInput{Key: "RCV-9", Warehouse: "WH-CENTRAL", Actor: "test", Lines: []activities.ReceiptLine{{SKU: "HY-01", Qty: 7}}}
	var first, second activities.PostReceiptResult
	v, err := env.ExecuteActivity((&activities.Inventory{}).PostReceipt, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&first); err != nil {
		t.Fatal(err)
	}
	v, err = env.ExecuteActivity((&activities.Inventory{}).PostReceipt, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&second); err != nil {
		t.Fatal(err)
	}
	if first.Replayed || !second.Replayed || first.Movements != 1 {
		t.Fatalf("first %+v, second %+v: want one posting then a replay", first, second)
	}
	after, err := q.GetBalance(ctx, dbgen.GetBalanceParams{WarehouseCode: "WH-CENTRAL", Sku: "HY-01"})
	if err != nil {
		t.Fatal(err)
	}
	if after.OnHand != before.OnHand+7 {
		t.Fatalf("on hand %d -> %d, want +7 exactly once", before.OnHand, after.OnHand)
	}
	rec, err := q.GetStockReceipt(ctx, "RCV-9")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != "posted" {
		t.Fatalf("receipt status %q, want posted", rec.Status)
	}

	// A refusal by the ledger is not retryable.
	_, err = env.ExecuteActivity((&activities.Inventory{}).PostReceipt, activities.PostReceiptInput{
		Key: "RCV-10", Warehouse: "WH-CENTRAL", Actor: "test", Lines: []activities.ReceiptLine{{SKU: "NOPE", Qty: 1}},
	})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != activities.ErrTypeStockRefused {
		t.Fatalf("unknown SKU: err = %v, want a non-retryable %s", err, activities.ErrTypeStockRefused)
	}
}
