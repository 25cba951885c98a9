package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/api"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/seed"
	"github.com/alliance/backoffice/internal/testenv"
	"github.com/alliance/backoffice/worker"
	"github.com/alliance/backoffice/workflows"
)

// TestOrderSurvivesWorkerDeathAfterReservation kills the worker after the
// reservation committed but before the workflow heard of it; a new worker
// retries the activity, which finds the reservation made and does not make
// another: the order completes with exactly one reservation.
func TestOrderSurvivesWorkerDeathAfterReservation(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	tc, _ := testenv.Temporal(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, pool: pool, tc: tc, tokens: map[string]string{}}
	h.issueTokens()
	h.serve(api.Deps{Pool: pool, Temporal: tc})

	// Worker A: the real activities, but Evaluate "dies" after committing.
	real := &activities.Orders{Pool: pool}
	committed := make(chan struct{}, 1)
	wa := sdkworker.New(tc, workflows.TaskQueue, sdkworker.Options{WorkerStopTimeout: time.Second})
	for _, d := range workflows.Definitions() {
		wa.RegisterWorkflowWithOptions(d.Fn, workflow.RegisterOptions{Name: d.Name})
	}
	wa.RegisterActivityWithOptions(func(ctx context.Context, id string) (activities.Route, error) {
		r, err := real.Evaluate(ctx, id)
		if err != nil {
			return r, err
		}
		committed <- struct{}{}
		<-ctx.Done() // the process dies here: the result is never reported
		return r, ctx.Err()
	}, activity.RegisterOptions{Name: "Evaluate"})
	if err := wa.Start(); err != nil {
		t.Fatal(err)
	}
	before := h.balance(t, "WH-EAST", "HY-01")
	var o api.Order
	h.do("POST", "/v1/orders", storeUser, map[string]any{"lines": lines("HY-01", 10)}, "Idempotency-Key", "crash-1").expect(t, 202).json(t, &o)
	select {
	case <-committed:
	case <-time.After(30 * time.Second):
		t.Fatal("the reservation never committed")
	}
	wa.Stop()
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != before.Reserved+10 {
		t.Fatalf("reserved %d before restart, want %d", b.Reserved, before.Reserved+10)
	}

	// Worker B: a normal restart.
	wb := worker.New(tc, pool, sdkworker.Options{})
	if err := wb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wb.Stop)
	// The workflow learns the route once the activity is retried (after its
	// start-to-close timeout at worst).
	done := h.waitOrderWithin(t, storeUser, o.ID, 90*time.Second, func(o api.Order) bool { return o.Status == "approved" })
	if !done.Reserved {
		t.Fatalf("order %+v", done)
	}
	var st workflows.OrderState
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		v, err := tc.QueryWorkflow(ctx, workflows.OrderID(o.ID), "", workflows.OrderStatusQuery)
		if err == nil && v.Get(&st) == nil && st.Status == "approved" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow state %+v, err %v", st, err)
		}
	}
	if n := h.postings(t, "order:"+o.ID+":reserve"); n != 1 {
		t.Fatalf("%d reservation movements, want exactly 1", n)
	}
	if b := h.balance(t, "WH-EAST", "HY-01"); b.Reserved != before.Reserved+10 {
		t.Fatalf("reserved %d after restart, want %d", b.Reserved, before.Reserved+10)
	}
	h.ledgerMatches(t)
}

// TestSettlementSurvivesWorkerDeathWhilePosting kills the worker after the
// first batch of credit notes committed but before the workflow heard of
// it; a new worker retries the batch, which posts nothing twice: every agent
// has exactly one note for the period and the totals are the statements'.
func TestSettlementSurvivesWorkerDeathWhilePosting(t *testing.T) {
	t.Parallel()
	pool, _ := testenv.DB(t)
	tc, _ := testenv.Temporal(t)
	ctx := context.Background()
	if err := seed.Seed(ctx, pool); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, pool: pool, tc: tc, tokens: map[string]string{}}
	h.issueTokens()
	h.user(t, "finance-2", auth.RoleFinance)
	h.serve(api.Deps{Pool: pool, Temporal: tc})

	// Worker A: the real activities, but the first PostBatch "dies" after committing.
	real := &activities.Rebates{Pool: pool}
	committed := make(chan struct{}, 1)
	wa := sdkworker.New(tc, workflows.TaskQueue, sdkworker.Options{WorkerStopTimeout: time.Second})
	for _, d := range workflows.Definitions() {
		wa.RegisterWorkflowWithOptions(d.Fn, workflow.RegisterOptions{Name: d.Name})
	}
	wa.RegisterActivity(&activities.Orders{Pool: pool})
	wa.RegisterActivity(&activities.Inventory{Pool: pool})
	for name, fn := range map[string]any{"Freeze": real.Freeze, "ComputeBatch": real.ComputeBatch, "AddAdjustment": real.AddAdjustment,
		"SetSettlementStatus": real.SetSettlementStatus, "Approve": real.Approve, "Publish": real.Publish} {
		wa.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	wa.RegisterActivityWithOptions(func(ctx context.Context, in activities.BatchInput) (activities.BatchResult, error) {
		r, err := real.PostBatch(ctx, in)
		if err != nil || in.After != "" {
			return r, err
		}
		committed <- struct{}{}
		<-ctx.Done() // the process dies here: the result is never reported
		return r, ctx.Err()
	}, activity.RegisterOptions{Name: "PostBatch"})
	if err := wa.Start(); err != nil {
		t.Fatal(err)
	}

	// One program for each grade; each agent bought in Q3.
	for _, g := range []string{"A", "B", "C"} {
		h.do("POST", "/v1/rebate-programs", finance, map[string]any{"code": "VOL-" + g, "name": "Volume " + g, "grade": g, "effective_from": "2026-01-01",
			"mode": "marginal", "tiers": []map[string]any{{"from": "0", "rate_pct": "1"}, {"from": "1000.00", "rate_pct": "3"}}}).expect(t, 201)
	}
	for _, u := range []string{agentEast, agentSouth, "demo-agent-north"} {
		h.do("POST", "/v1/orders", u, map[string]any{"lines": lines("HY-01", 10)}, "Idempotency-Key", "crash-q3").expect(t, 202)
	}
	if _, err := pool.Exec(ctx, `UPDATE orders SET status = 'delivered', delivered_at = '2026-08-10 10:00+08' WHERE buyer_kind = 'agent'`); err != nil {
		t.Fatal(err)
	}
	// Batches of one agent, so the crash falls between batches.
	var fin dbgen.User
	fin, err := dbgen.New(pool).GetUserByName(ctx, finance)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.SettlementID("2026-Q3"), TaskQueue: workflows.TaskQueue},
		workflows.Settlement, workflows.SettlementInput{BatchSize: 1, SettlementSpec: activities.SettlementSpec{
			ID: "2026-Q3", Period: "2026-Q3", Kind: "final", StartedBy: fin.ID, GraceDays: 5}}); err != nil {
		t.Fatal(err)
	}
	s := h.waitSettlement(t, "2026-Q3", "review")
	if s.AgentsTotal != 3 || s.AgentsDone != 3 {
		t.Fatalf("in review %+v", s)
	}
	h.do("POST", "/v1/settlements/2026-Q3/approval", "finance-2", nil).expect(t, 200)
	select {
	case <-committed:
	case <-time.After(30 * time.Second):
		t.Fatal("the first posting batch never committed")
	}
	wa.Stop()

	// Worker B: a normal restart.
	wb := worker.New(tc, pool, sdkworker.Options{})
	if err := wb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wb.Stop)
	deadline := time.Now().Add(90 * time.Second)
	for {
		var st api.Settlement
		h.do("GET", "/v1/settlements/2026-Q3", finance, nil).expect(t, 200).json(t, &st)
		if st.Status == "published" {
			s = st
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("settlement stuck in %s", st.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var notes, agents int
	var sum, want decimal.Decimal
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT agent_code), sum(amount) FROM credit_notes WHERE settlement_id = '2026-Q3'`).Scan(&notes, &agents, &sum); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT sum(credit) FROM rebate_statements WHERE settlement_id = '2026-Q3'`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if notes != 3 || agents != 3 || !sum.Equal(want) || !s.TotalCredit.Equal(want) || s.Posted != 3 {
		t.Fatalf("%d notes for %d agents, sum %s, statements %s, settlement %+v", notes, agents, sum, want, s)
	}
}
