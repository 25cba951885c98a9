package activities_test

import (
	"context"
	"testing"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
)

// TestOrderActivitiesAreIdempotent runs every order activity twice, as
// Temporal does after a worker dies between commit and report: stock moves
// once, the timeline records each event once.
func TestOrderActivitiesAreIdempotent(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	q := dbgen.New(pool)
	user, err := q.GetUserByName(ctx, "demo-store")
	if err != nil {
		t.Fatal(err)
	}
	store := "ST-EAST-01"
	amount := decimal.RequireFromString("7257.60") // over the store's auto-approval limit: one agent step
	if _, err := q.InsertOrder(ctx, dbgen.InsertOrderParams{
		ID: "PO-T-1", BuyerKind: "store", BuyerCode: store, AgentCode: "AG-EAST", StoreCode: &store, Region: "EAST",
		WarehouseCode: "WH-EAST", ListTotal: amount, DiscountTotal: decimal.Zero, NetTotal: amount, CreditOffset: decimal.Zero,
		Payable: amount, Pricing: []byte(`{}`), IdempotencyKey: "k", CreatedBy: user.ID,
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.InsertOrderLine(ctx, dbgen.InsertOrderLineParams{OrderID: "PO-T-1", LineNo: 1, Sku: "HY-01", Qty: 60,
		ListPrice: decimal.RequireFromString("134.40"), NetAmount: amount, NetValue: amount}); err != nil {
		t.Fatal(err)
	}
	before, _ := q.GetBalance(ctx, dbgen.GetBalanceParams{WarehouseCode: "WH-EAST", Sku: "HY-01"})

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &activities.Orders{Pool: pool}
	env.RegisterActivity(a)
	twice := func(fn any, args ...any) []converter.EncodedValue {
		var out []converter.EncodedValue
		for range 2 {
			v, err := env.ExecuteActivity(fn, args...)
			if err != nil {
				t.Fatalf("%T: %v", fn, err)
			}
			out = append(out, v)
		}
		return out
	}
	var r1, r2 activities.Route
	vs := twice(a.Evaluate, "PO-T-1")
	if err := vs[0].Get(&r1); err != nil {
		t.Fatal(err)
	}
	if err := vs[1].Get(&r2); err != nil {
		t.Fatal(err)
	}
	if r1.Outcome != activities.RouteApproval || r2.Outcome != r1.Outcome || len(r2.Steps) != 1 || r2.Steps[0].Role != "agent" {
		t.Fatalf("routes %+v / %+v", r1, r2)
	}
	twice(a.StepEvent, activities.StepEventInput{OrderID: "PO-T-1", Step: 1, Kind: "reminder", To: "agent"})
	vs = twice(a.Decide, activities.DecideInput{OrderID: "PO-T-1", Step: 1, Approve: true, Comment: "ok", UserID: user.ID, Role: "agent"})
	var d2 activities.DecideResult
	if err := vs[1].Get(&d2); err != nil {
		t.Fatal(err)
	}
	if d2.Status != activities.OrderApproved {
		t.Fatalf("second decide says %+v", d2)
	}
	mid, _ := q.GetBalance(ctx, dbgen.GetBalanceParams{WarehouseCode: "WH-EAST", Sku: "HY-01"})
	if mid.Reserved != before.Reserved+60 {
		t.Fatalf("reserved %d, want %d (once)", mid.Reserved, before.Reserved+60)
	}
	twice(a.Fulfil, activities.FulfilInput{OrderID: "PO-T-1", Stage: "shipped", Carrier: "SF", TrackingNumber: "1", UserID: user.ID})
	after, _ := q.GetBalance(ctx, dbgen.GetBalanceParams{WarehouseCode: "WH-EAST", Sku: "HY-01"})
	if after.OnHand != before.OnHand-60 || after.Reserved != before.Reserved {
		t.Fatalf("after shipping twice: %+v, before %+v", after, before)
	}
	events, err := q.ListOrderEvents(ctx, "PO-T-1")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range events {
		seen[e.DedupKey]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("event %s recorded %d times", k, n)
		}
	}
	if seen["step:1:reminder"] != 1 || seen["status:shipped"] != 1 || seen["reserved"] != 1 {
		t.Fatalf("timeline %v", seen)
	}

	// Cancelling twice releases once.
	if _, err := q.InsertOrder(ctx, dbgen.InsertOrderParams{
		ID: "PO-T-2", BuyerKind: "store", BuyerCode: store, AgentCode: "AG-EAST", StoreCode: &store, Region: "EAST",
		WarehouseCode: "WH-EAST", ListTotal: decimal.RequireFromString("100"), DiscountTotal: decimal.Zero, NetTotal: decimal.RequireFromString("100"),
		CreditOffset: decimal.Zero, Payable: decimal.RequireFromString("100"), Pricing: []byte(`{}`), IdempotencyKey: "k2", CreatedBy: user.ID,
	}); err != nil {
		t.Fatal(err)
	}
	if err := q.InsertOrderLine(ctx, dbgen.InsertOrderLineParams{OrderID: "PO-T-2", LineNo: 1, Sku: "HY-02", Qty: 1,
		ListPrice: decimal.RequireFromString("100"), NetAmount: decimal.RequireFromString("100"), NetValue: decimal.RequireFromString("100")}); err != nil {
		t.Fatal(err)
	}
	b0, _ := q.GetBalance(ctx, dbgen.GetBalanceParams{WarehouseCode: "WH-EAST", Sku: "HY-02"})
	twice(a.Evaluate, "PO-T-2") // auto-approved and reserved
	twice(a.Cancel, activities.CancelInput{OrderID: "PO-T-2", UserID: user.ID, Reason: "test"})
	b1, _ := q.GetBalance(ctx, dbgen.GetBalanceParams{WarehouseCode: "WH-EAST", Sku: "HY-02"})
	if b1.Reserved != b0.Reserved {
		t.Fatalf("reserved %d after cancel, want %d", b1.Reserved, b0.Reserved)
	}
	mism, err := q.LedgerMismatches(ctx)
	if err != nil || len(mism) != 0 {
		t.Fatalf("ledger mismatches %v %v", mism, err)
	}
}
