package api_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/api"
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
