package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/alliance/backoffice/activities"
)

var timing = activities.Timing{Reminder: 24 * time.Hour, Escalate: 48 * time.Hour, Expire: 72 * time.Hour}

type orderEnv struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	a   *activities.Orders
}

func newOrderEnv(t *testing.T, route activities.Route) *orderEnv {
	var s testsuite.WorkflowTestSuite
	e := &orderEnv{t: t, env: s.NewTestWorkflowEnvironment()}
	e.env.RegisterActivity(e.a)
	route.Timing = timing
	e.env.OnActivity(e.a.Evaluate, mock.Anything, "PO-1").Return(route, nil).Once()
	return e
}

// update sends an update at delay and records whether it was accepted.
type updateResult struct {
	rejected error
	err      error
	state    OrderState
	done     bool
}

func (e *orderEnv) update(delay time.Duration, name string, arg any) *updateResult {
	r := &updateResult{}
	e.env.RegisterDelayedCallback(func() {
		e.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { r.rejected, r.done = err, true },
			OnComplete: func(v any, err error) {
				r.err, r.done = err, true
				if s, ok := v.(OrderState); ok {
					r.state = s
				}
			},
		}, arg)
	}, delay)
	return r
}

func (e *orderEnv) run() OrderState {
	e.t.Helper()
	e.env.ExecuteWorkflow(OrderApproval, OrderInput{OrderID: "PO-1"})
	if !e.env.IsWorkflowCompleted() {
		e.t.Fatal("workflow did not complete")
	}
	var st OrderState
	if err := e.env.GetWorkflowResult(&st); err != nil {
		e.t.Fatal(err)
	}
	e.env.AssertExpectations(e.t)
	return st
}

func rejectedAs(t *testing.T, r *updateResult, kind string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !r.done || !errors.As(r.rejected, &appErr) || appErr.Type() != kind {
		t.Fatalf("update: rejected = %v (done %v), want a %s rejection", r.rejected, r.done, kind)
	}
}

var (
	agentActor = Actor{UserID: 10, Role: "agent", Agent: "AG-EAST"}
	sales1     = Actor{UserID: 20, Role: "hq_sales"}
	sales2     = Actor{UserID: 21, Role: "hq_sales"}
	financeA   = Actor{UserID: 30, Role: "finance"}
	warehouse  = Actor{UserID: 40, Role: "hq_admin"}
)

func fulfilAll(e *orderEnv, from time.Duration) {
	e.env.OnActivity(e.a.Fulfil, mock.Anything, mock.MatchedBy(func(in activities.FulfilInput) bool { return in.Stage == "picking" })).Return(nil).Once()
	e.env.OnActivity(e.a.Fulfil, mock.Anything, mock.MatchedBy(func(in activities.FulfilInput) bool {
		return in.Stage == "shipped" && in.Carrier == "SF Express" && in.TrackingNumber == "SF123"
	})).Return(nil).Once()
	e.env.OnActivity(e.a.Fulfil, mock.Anything, mock.MatchedBy(func(in activities.FulfilInput) bool { return in.Stage == "delivered" })).Return(nil).Once()
	e.update(from, OrderFulfilUpdate, Fulfilment{Actor: warehouse, Stage: "picking"})
	e.update(from+time.Hour, OrderFulfilUpdate, Fulfilment{Actor: warehouse, Stage: "shipped", Carrier: "SF Express", TrackingNumber: "SF123"})
	e.update(from+48*time.Hour, OrderFulfilUpdate, Fulfilment{Actor: warehouse, Stage: "delivered"})
}

func TestOrderAutoApprovedThenFulfilled(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteApproved})
	fulfilAll(e, time.Minute)
	// Shipping without a tracking number is refused, delivering before shipping too.
	bad := e.update(50*time.Second, OrderFulfilUpdate, Fulfilment{Actor: warehouse, Stage: "shipped", Carrier: "SF Express"})
	early := e.update(55*time.Second, OrderFulfilUpdate, Fulfilment{Actor: warehouse, Stage: "delivered"})
	if st := e.run(); st.Status != activities.OrderDelivered {
		t.Fatalf("status %s, want delivered", st.Status)
	}
	rejectedAs(t, bad, ErrTypeInvalid)
	rejectedAs(t, early, ErrTypeConflict)
}

func TestOrderRejectedByChecks(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteRejected, Reason: "insufficient stock"})
	if st := e.run(); st.Status != activities.OrderRejected || st.Reason == "" {
		t.Fatalf("state %+v, want rejected with a reason", st)
	}
}

func TestOrderOneLevelApprovalThenCancelBeforeShipping(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteApproval, Steps: []activities.ApprovalStep{{No: 1, Role: "agent", Agent: "AG-EAST"}}})
	e.env.OnActivity(e.a.Decide, mock.Anything, activities.DecideInput{OrderID: "PO-1", Step: 1, Approve: true, Comment: "ok", UserID: 10, Role: "agent"}).
		Return(activities.DecideResult{Status: activities.OrderApproved}, nil).Once()
	e.env.OnActivity(e.a.Fulfil, mock.Anything, mock.Anything).Return(nil).Once()
	e.env.OnActivity(e.a.Cancel, mock.Anything, mock.MatchedBy(func(in activities.CancelInput) bool { return in.Reason == "customer changed mind" })).Return(nil).Once()
	otherAgent := e.update(time.Hour, OrderDecideUpdate, Decision{Actor: Actor{UserID: 11, Role: "agent", Agent: "AG-SOUTH"}, Approve: true})
	sales := e.update(2*time.Hour, OrderDecideUpdate, Decision{Actor: sales1, Approve: true}) // not escalated yet
	ok := e.update(3*time.Hour, OrderDecideUpdate, Decision{Actor: agentActor, Approve: true, Comment: "ok"})
	again := e.update(4*time.Hour, OrderDecideUpdate, Decision{Actor: agentActor, Step: 1, Approve: true, Comment: "ok"})
	e.update(5*time.Hour, OrderFulfilUpdate, Fulfilment{Actor: warehouse, Stage: "picking"})
	e.update(6*time.Hour, OrderCancelUpdate, Cancellation{Actor: agentActor, Reason: "customer changed mind"})
	st := e.run()
	if st.Status != activities.OrderCancelled {
		t.Fatalf("status %s, want cancelled", st.Status)
	}
	rejectedAs(t, otherAgent, ErrTypeForbidden)
	rejectedAs(t, sales, ErrTypeForbidden)
	rejectedAs(t, again, ErrTypeConflict)
	if ok.err != nil || ok.state.Status != activities.OrderApproved {
		t.Fatalf("approval update: %+v", ok)
	}
}

func TestOrderTwoLevelApprovalNeedsTwoApprovers(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteApproval, Steps: []activities.ApprovalStep{{No: 1, Role: "hq_sales"}, {No: 2, Role: "hq_sales"}}})
	e.env.OnActivity(e.a.Decide, mock.Anything, mock.MatchedBy(func(in activities.DecideInput) bool { return in.Step == 1 && in.UserID == 20 })).
		Return(activities.DecideResult{Status: activities.OrderPendingApproval, NextStep: 2}, nil).Once()
	e.env.OnActivity(e.a.Decide, mock.Anything, mock.MatchedBy(func(in activities.DecideInput) bool { return in.Step == 2 && in.UserID == 21 })).
		Return(activities.DecideResult{Status: activities.OrderApproved}, nil).Once()
	e.update(time.Hour, OrderDecideUpdate, Decision{Actor: sales1, Approve: true})
	same := e.update(2*time.Hour, OrderDecideUpdate, Decision{Actor: sales1, Approve: true})
	e.update(3*time.Hour, OrderDecideUpdate, Decision{Actor: sales2, Approve: true})
	fulfilAll(e, 4*time.Hour)
	if st := e.run(); st.Status != activities.OrderDelivered {
		t.Fatalf("status %s", st.Status)
	}
	rejectedAs(t, same, ErrTypeConflict)
}

func TestOrderCreditReleaseByFinance(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteApproval, Steps: []activities.ApprovalStep{{No: 1, Role: "hq_sales"}, {No: 2, Role: "finance"}}})
	e.env.OnActivity(e.a.Decide, mock.Anything, mock.MatchedBy(func(in activities.DecideInput) bool { return in.Step == 1 })).
		Return(activities.DecideResult{Status: activities.OrderPendingApproval, NextStep: 2}, nil).Once()
	e.env.OnActivity(e.a.Decide, mock.Anything, mock.MatchedBy(func(in activities.DecideInput) bool { return in.Step == 2 && in.Role == "finance" })).
		Return(activities.DecideResult{Status: activities.OrderApproved}, nil).Once()
	e.update(time.Hour, OrderDecideUpdate, Decision{Actor: sales1, Approve: true})
	salesOnFinance := e.update(2*time.Hour, OrderDecideUpdate, Decision{Actor: sales2, Approve: true})
	e.update(3*time.Hour, OrderDecideUpdate, Decision{Actor: financeA, Approve: true, Comment: "released"})
	fulfilAll(e, 4*time.Hour)
	if st := e.run(); st.Status != activities.OrderDelivered {
		t.Fatalf("status %s", st.Status)
	}
	rejectedAs(t, salesOnFinance, ErrTypeForbidden)
}

func TestOrderRejectedByApprover(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteApproval, Steps: []activities.ApprovalStep{{No: 1, Role: "hq_sales"}}})
	e.env.OnActivity(e.a.Decide, mock.Anything, mock.MatchedBy(func(in activities.DecideInput) bool { return !in.Approve && in.Comment == "too much" })).
		Return(activities.DecideResult{Status: activities.OrderRejected, Reason: "too much"}, nil).Once()
	noComment := e.update(time.Hour, OrderDecideUpdate, Decision{Actor: sales1, Approve: false})
	e.update(2*time.Hour, OrderDecideUpdate, Decision{Actor: sales1, Approve: false, Comment: "too much"})
	if st := e.run(); st.Status != activities.OrderRejected {
		t.Fatalf("status %s", st.Status)
	}
	rejectedAs(t, noComment, ErrTypeInvalid)
}

func TestOrderReminderEscalationExpiry(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteApproval, Steps: []activities.ApprovalStep{{No: 1, Role: "agent", Agent: "AG-EAST"}}})
	var calls []string
	var at []time.Time
	start := e.env.Now()
	e.env.OnActivity(e.a.StepEvent, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StepEventInput) error {
		calls, at = append(calls, in.Kind+">"+in.To), append(at, e.env.Now())
		return nil
	}).Twice()
	e.env.OnActivity(e.a.Expire, mock.Anything, "PO-1", 1).Return(func(_ context.Context, _ string, _ int) error {
		calls, at = append(calls, "expired"), append(at, e.env.Now())
		return nil
	}).Once()
	st := e.run()
	if st.Status != activities.OrderExpired {
		t.Fatalf("status %s, want expired", st.Status)
	}
	want := []string{"reminder>agent", "escalated>hq_sales", "expired"}
	if len(calls) != 3 || calls[0] != want[0] || calls[1] != want[1] || calls[2] != want[2] {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	for i, h := range []time.Duration{24 * time.Hour, 48 * time.Hour, 72 * time.Hour} {
		if d := at[i].Sub(start); d < h || d > h+time.Minute {
			t.Errorf("%s after %s, want %s", calls[i], d, h)
		}
	}
}

func TestOrderEscalatedStepCanBeDecidedByNextLevel(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteApproval, Steps: []activities.ApprovalStep{{No: 1, Role: "agent", Agent: "AG-EAST"}}})
	e.env.OnActivity(e.a.StepEvent, mock.Anything, mock.Anything).Return(nil).Twice()
	e.env.OnActivity(e.a.Decide, mock.Anything, mock.MatchedBy(func(in activities.DecideInput) bool { return in.Role == "hq_sales" })).
		Return(activities.DecideResult{Status: activities.OrderApproved}, nil).Once()
	early := e.update(30*time.Hour, OrderDecideUpdate, Decision{Actor: sales1, Approve: true}) // reminded, not escalated
	e.update(50*time.Hour, OrderDecideUpdate, Decision{Actor: sales1, Approve: true})
	e.update(51*time.Hour, OrderCancelUpdate, Cancellation{Actor: sales1, Reason: "duplicate"})
	e.env.OnActivity(e.a.Cancel, mock.Anything, mock.Anything).Return(nil).Once()
	if st := e.run(); st.Status != activities.OrderCancelled {
		t.Fatalf("status %s", st.Status)
	}
	rejectedAs(t, early, ErrTypeForbidden)
}

func TestOrderCannotBeCancelledAfterShipping(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteApproved})
	fulfilAll(e, time.Minute)
	late := e.update(2*time.Hour, OrderCancelUpdate, Cancellation{Actor: agentActor, Reason: "too late"})
	if st := e.run(); st.Status != activities.OrderDelivered {
		t.Fatalf("status %s", st.Status)
	}
	rejectedAs(t, late, ErrTypeConflict)
}

func TestOrderCancelWhilePendingApproval(t *testing.T) {
	e := newOrderEnv(t, activities.Route{Outcome: activities.RouteApproval, Steps: []activities.ApprovalStep{{No: 1, Role: "hq_sales"}}})
	e.env.OnActivity(e.a.Cancel, mock.Anything, mock.Anything).Return(nil).Once()
	e.update(time.Hour, OrderCancelUpdate, Cancellation{Actor: agentActor, Reason: "not needed"})
	after := e.update(2*time.Hour, OrderDecideUpdate, Decision{Actor: sales1, Approve: true})
	if st := e.run(); st.Status != activities.OrderCancelled {
		t.Fatalf("status %s", st.Status)
	}
	// The workflow has completed: a decision after close never reaches a handler.
	if after.done && after.rejected == nil && after.err == nil {
		t.Fatal("a decision after cancellation was accepted")
	}
}

// A decision and a fulfilment report that arrive while the order is still
// being routed (the evaluation in flight) are accepted, wait for the route,
// and are validated against it: the approval applies to the step the route
// opened; a report for a stage the route does not allow is refused then.
func TestOrderUpdatesDuringRoutingWaitForTheRoute(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	e := &orderEnv{t: t, env: s.NewTestWorkflowEnvironment()}
	e.env.RegisterActivity(e.a)
	e.env.OnActivity(e.a.Evaluate, mock.Anything, "PO-1").After(300*time.Millisecond).
		Return(activities.Route{Outcome: activities.RouteApproval, Timing: timing, Steps: []activities.ApprovalStep{{No: 1, Role: "hq_sales"}}}, nil).Once()
	e.env.OnActivity(e.a.Decide, mock.Anything, mock.MatchedBy(func(in activities.DecideInput) bool { return in.Step == 1 && in.UserID == 20 && in.Approve })).
		Return(activities.DecideResult{Status: activities.OrderApproved}, nil).Once()
	e.env.OnActivity(e.a.Cancel, mock.Anything, mock.Anything).Return(nil).Once()
	early := e.update(time.Millisecond, OrderDecideUpdate, Decision{Actor: sales1, Approve: true})
	tooEarly := e.update(2*time.Millisecond, OrderFulfilUpdate, Fulfilment{Actor: warehouse, Stage: "delivered"})
	noComment := e.update(3*time.Millisecond, OrderDecideUpdate, Decision{Actor: sales2, Approve: false})
	e.update(time.Hour, OrderCancelUpdate, Cancellation{Actor: sales1, Reason: "test over"})
	if st := e.run(); st.Status != activities.OrderCancelled {
		t.Fatalf("status %s", st.Status)
	}
	if !early.done || early.rejected != nil || early.err != nil || early.state.Status != activities.OrderApproved {
		t.Fatalf("the decision sent while routing: %+v", early)
	}
	var appErr *temporal.ApplicationError
	if !tooEarly.done || tooEarly.rejected != nil || !errors.As(tooEarly.err, &appErr) || appErr.Type() != ErrTypeConflict {
		t.Fatalf("a delivery reported while routing: %+v, want accepted then refused as a conflict", tooEarly)
	}
	rejectedAs(t, noComment, ErrTypeInvalid)
}
