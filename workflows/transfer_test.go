package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
)

// Actors of the transfer tests: WH-EAST (AG-EAST's) lends to WH-ECOM (HQ's).
var (
	trEastAgent  = activities.Actor{ID: "user:4", Name: "demo-agent-east", Role: "agent", Agent: "AG-EAST"}
	trSouthAgent = activities.Actor{ID: "user:5", Name: "demo-agent-south", Role: "agent", Agent: "AG-SOUTH"}
	trHQSales    = activities.Actor{ID: "user:2", Name: "demo-hq-sales", Role: "hq_sales"}
	trHQAdmin    = activities.Actor{ID: "user:1", Name: "demo-hq-admin", Role: "hq_admin"}
)

func transferInput() TransferInput {
	return TransferInput{
		Key: "TR-1", Source: "WH-EAST", Destination: "WH-ECOM", SourceAgent: "AG-EAST",
		Lines:    []activities.TransferLine{{SKU: "HY-01", Qty: 10}, {SKU: "RD-02", Qty: 4}},
		Timeouts: DefaultTransferTimeouts(),
	}
}

// trEnv is a test environment for one Transfer workflow with mocked
// activities, recording the order in which they ran.
type trEnv struct {
	t     *testing.T
	env   *testsuite.TestWorkflowEnvironment
	a     *activities.Transfers
	in    TransferInput
	calls []string
	at    map[string]time.Duration // activity -> workflow time since start
	start time.Time
}

func newTrEnv(t *testing.T) *trEnv {
	var s testsuite.WorkflowTestSuite
	e := &trEnv{t: t, env: s.NewTestWorkflowEnvironment(), in: transferInput(), at: map[string]time.Duration{}}
	e.env.RegisterActivity(e.a)
	e.start = e.env.Now()
	e.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		e.calls = append(e.calls, info.ActivityType.Name)
		e.at[info.ActivityType.Name] = e.env.Now().Sub(e.start)
	})
	return e
}

// expectReserve mocks a successful reservation of the requested lines.
func (e *trEnv) expectReserve() {
	e.env.OnActivity(e.a.TransferReserve, mock.Anything, activities.TransferReserveInput{Key: "TR-1", Source: "WH-EAST", Lines: e.in.Lines}).
		Return(activities.StepResult{Movements: 2}, nil).Once()
}

func (e *trEnv) expectRelease(lines []activities.TransferLine, why string) {
	e.env.OnActivity(e.a.TransferRelease, mock.Anything, activities.TransferReleaseInput{Key: "TR-1", Source: "WH-EAST", Lines: lines, Why: why}).
		Return(activities.StepResult{Movements: len(lines)}, nil).Once()
}

func (e *trEnv) expectClose(status string, by activities.Actor, reason func(string) bool) {
	e.env.OnActivity(e.a.TransferClose, mock.Anything, mock.MatchedBy(func(in activities.TransferCloseInput) bool {
		return in.Key == "TR-1" && in.Status == status && in.Actor == by && reason(in.Reason)
	})).Return(nil).Once()
}

func (e *trEnv) expectApprove(approved []activities.TransferLine, by activities.Actor) {
	e.env.OnActivity(e.a.TransferApprove, mock.Anything, mock.MatchedBy(func(in activities.TransferApproveInput) bool {
		return in.Key == "TR-1" && in.Actor == by && slices.Equal(in.Approved, approved) && slices.Equal(in.Requested, e.in.Lines)
	})).Return(activities.StepResult{}, nil).Once()
}

func (e *trEnv) expectDispatch(lines []activities.TransferLine, err error) {
	e.env.OnActivity(e.a.TransferDispatch, mock.Anything, activities.TransferDispatchInput{Key: "TR-1", Source: "WH-EAST", Destination: e.in.Destination, Lines: lines}).
		Return(activities.StepResult{Movements: 2 * len(lines)}, err).Once()
}

func (e *trEnv) expectReceive(lines []activities.ReceivedLine, by activities.Actor) {
	e.env.OnActivity(e.a.TransferReceive, mock.Anything, mock.MatchedBy(func(in activities.TransferReceiveInput) bool {
		return in.Key == "TR-1" && in.Destination == e.in.Destination && in.Actor == by && slices.Equal(in.Lines, lines)
	})).Return(activities.StepResult{}, nil).Once()
}

// expectReceiptDeadlines mocks the receipt reminder and escalation.
func (e *trEnv) expectReceiptDeadlines() {
	e.env.OnActivity(e.a.TransferReceiptRemind, mock.Anything, "TR-1").Return(nil).Once()
	e.env.OnActivity(e.a.TransferReceiptEscalate, mock.Anything, "TR-1").Return(nil).Once()
}

// wantAt checks when (workflow time since start) activities ran.
func (e *trEnv) wantAt(want map[string]time.Duration) {
	e.t.Helper()
	for name, at := range want {
		if got, ok := e.at[name]; !ok || got != at {
			e.t.Errorf("%s ran at %s (ran: %v), want %s", name, got, ok, at)
		}
	}
}

// state queries the workflow at delay (workflow time).
func (e *trEnv) state(delay time.Duration) *TransferState {
	st := &TransferState{}
	e.env.RegisterDelayedCallback(func() {
		v, err := e.env.QueryWorkflow(TransferStateQuery)
		if err == nil {
			err = v.Get(st)
		}
		if err != nil {
			e.t.Errorf("query at %s: %v", delay, err)
		}
	}, delay)
	return st
}

// trUpdate is the outcome of one update sent to the workflow.
type trUpdate struct {
	name     string
	rejected error
	err      error
	outcome  TransferOutcome
	done     bool
}

// update sends an update at delay (workflow time).
func (e *trEnv) update(delay time.Duration, name string, arg any) *trUpdate {
	r := &trUpdate{name: name}
	e.env.RegisterDelayedCallback(func() {
		e.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { r.rejected, r.done = err, true },
			OnComplete: func(v any, err error) {
				r.err, r.done = err, true
				if o, ok := v.(TransferOutcome); ok {
					r.outcome = o
				}
			},
		}, arg)
	}, delay)
	return r
}

func (e *trEnv) run() TransferResult {
	e.t.Helper()
	e.env.ExecuteWorkflow(Transfer, e.in)
	if !e.env.IsWorkflowCompleted() {
		e.t.Fatal("workflow did not complete")
	}
	var res TransferResult
	if err := e.env.GetWorkflowResult(&res); err != nil {
		e.t.Fatal(err)
	}
	e.env.AssertExpectations(e.t)
	return res
}

func (e *trEnv) wantCalls(want ...string) {
	e.t.Helper()
	if !slices.Equal(e.calls, want) {
		e.t.Fatalf("activities ran %v, want %v", e.calls, want)
	}
}

func (r *trUpdate) wantOutcome(t *testing.T, status string) {
	t.Helper()
	if !r.done || r.rejected != nil || r.err != nil || r.outcome.Status != status {
		t.Fatalf("%s: done %v rejected %v err %v outcome %+v, want %s", r.name, r.done, r.rejected, r.err, r.outcome, status)
	}
}

// wantRefused checks an update was refused by its validator as kind, naming
// fields (for ErrTypeInvalid).
func (r *trUpdate) wantRefused(t *testing.T, kind string, fields ...string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !r.done || !errors.As(r.rejected, &appErr) || appErr.Type() != kind {
		t.Fatalf("%s: rejected = %v (done %v), want a %s refusal", r.name, r.rejected, r.done, kind)
	}
	if len(fields) == 0 {
		return
	}
	var got []TransferFieldError
	if err := appErr.Details(&got); err != nil {
		t.Fatalf("%s: details: %v", r.name, err)
	}
	var names []string
	for _, f := range got {
		names = append(names, f.Field)
	}
	if !slices.Equal(names, fields) {
		t.Fatalf("%s: refused fields %v, want %v (%+v)", r.name, names, fields, got)
	}
}

func trLines(l ...any) []activities.TransferLine {
	var out []activities.TransferLine
	for i := 0; i+1 < len(l); i += 2 {
		out = append(out, activities.TransferLine{SKU: l[i].(string), Qty: int64(l[i+1].(int))})
	}
	return out
}

func trAnyReason(string) bool { return true }

func TestTransferApprovedDispatchedReceived(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	e.expectApprove(e.in.Lines, trEastAgent)
	e.expectDispatch(e.in.Lines, nil)
	e.expectReceive([]activities.ReceivedLine{{SKU: "HY-01", Dispatched: 10, Received: 10}, {SKU: "RD-02", Dispatched: 4, Received: 4}}, trHQAdmin)
	decide := e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent, Reason: "ok for the campaign"})
	again := e.update(2*time.Hour, TransferDecideUpdate, TransferDecision{Approve: false, Reason: "changed my mind", By: trEastAgent})
	cancel := e.update(2*time.Hour, TransferCancelUpdate, TransferCancel{Reason: "too late", By: trHQSales})
	receive := e.update(30*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQAdmin, Lines: []ReceiptLine{{SKU: "RD-02", Received: 4}, {SKU: "HY-01", Received: 10}}})
	res := e.run()
	if res.Status != TransferReceived {
		t.Fatalf("result %+v", res)
	}
	decide.wantOutcome(t, TransferInTransit)
	again.wantRefused(t, ErrTypeConflict)
	cancel.wantRefused(t, ErrTypeConflict)
	receive.wantOutcome(t, TransferReceived)
	// Approved within the reminder: no reminder, no escalation, no release.
	e.wantCalls("TransferReserve", "TransferApprove", "TransferDispatch", "TransferReceive")
}

func TestTransferPartiallyApproved(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	// HY-01 reduced to 6, RD-02 not lent at all: the approve step releases
	// 4 + 4 at once; only HY-01 is dispatched.
	e.expectApprove(trLines("HY-01", 6, "RD-02", 0), trEastAgent)
	e.expectDispatch(trLines("HY-01", 6), nil)
	e.expectReceive([]activities.ReceivedLine{{SKU: "HY-01", Dispatched: 6, Received: 6}}, trHQSales)
	tooMany := e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent, Lines: trLines("HY-01", 11, "RD-02", -1, "XX-99", 1)})
	decide := e.update(2*time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent, Lines: trLines("HY-01", 6, "RD-02", 0)})
	notSent := e.update(3*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQSales, Lines: []ReceiptLine{{SKU: "HY-01", Received: 6}, {SKU: "RD-02", Received: 0}}})
	receive := e.update(4*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQSales, Lines: []ReceiptLine{{SKU: "HY-01", Received: 6}}})
	res := e.run()
	if res.Status != TransferReceived {
		t.Fatalf("result %+v", res)
	}
	tooMany.wantRefused(t, ErrTypeInvalid, "lines[0].approved_qty", "lines[1].approved_qty", "lines[2].sku")
	decide.wantOutcome(t, TransferInTransit)
	notSent.wantRefused(t, ErrTypeInvalid, "lines[1].sku")
	receive.wantOutcome(t, TransferReceived)
	e.wantCalls("TransferReserve", "TransferApprove", "TransferDispatch", "TransferReceive")
}

func TestTransferRejectedReleasesTheReservation(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	e.expectRelease(e.in.Lines, TransferRejected)
	e.expectClose(TransferRejected, trEastAgent, func(r string) bool { return r == "we need it for Singles' Day" })
	other := e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trSouthAgent})
	hqEarly := e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trHQSales})
	noReason := e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: false, By: trEastAgent, Lines: trLines("HY-01", 1)})
	reject := e.update(2*time.Hour, TransferDecideUpdate, TransferDecision{Approve: false, By: trEastAgent, Reason: "we need it for Singles' Day"})
	res := e.run()
	if res.Status != TransferRejected || res.Failure != "we need it for Singles' Day" {
		t.Fatalf("result %+v", res)
	}
	other.wantRefused(t, ErrTypeForbidden)
	hqEarly.wantRefused(t, ErrTypeForbidden) // not escalated yet
	noReason.wantRefused(t, ErrTypeInvalid, "reason", "lines")
	reject.wantOutcome(t, TransferRejected)
	e.wantCalls("TransferReserve", "TransferRelease", "TransferClose")
}

func TestTransferExpiresAfterReminderAndEscalation(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	e.env.OnActivity(e.a.TransferRemind, mock.Anything, "TR-1").Return(nil).Once()
	e.env.OnActivity(e.a.TransferEscalate, mock.Anything, "TR-1").Return(nil).Once()
	e.expectRelease(e.in.Lines, TransferExpired)
	e.expectClose(TransferExpired, activities.SystemActor, func(r string) bool { return strings.Contains(r, "48h") })
	hqBefore := e.update(23*time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trHQSales})
	hqAfterInvalid := e.update(25*time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trHQSales, Lines: trLines("HY-01", 0, "RD-02", 0)})
	late := e.update(49*time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent})
	res := e.run()
	if res.Status != TransferExpired {
		t.Fatalf("result %+v", res)
	}
	hqBefore.wantRefused(t, ErrTypeForbidden)
	// After escalation hq_sales may decide: this one is refused only for
	// approving nothing.
	hqAfterInvalid.wantRefused(t, ErrTypeInvalid, "lines")
	if late.done {
		t.Fatalf("an update after the workflow closed was answered: %+v", late)
	}
	e.wantCalls("TransferReserve", "TransferRemind", "TransferEscalate", "TransferRelease", "TransferClose")
	for name, want := range map[string]time.Duration{"TransferRemind": 12 * time.Hour, "TransferEscalate": 24 * time.Hour, "TransferRelease": 48 * time.Hour} {
		if got := e.at[name]; got != want {
			t.Errorf("%s ran at %s, want %s", name, got, want)
		}
	}
}

func TestTransferEscalatedDecidedByHQSales(t *testing.T) {
	e := newTrEnv(t)
	e.in.Timeouts = TransferTimeouts{RemindAfter: time.Minute, EscalateAfter: 2 * time.Minute, ExpireAfter: 3 * time.Minute}
	e.expectReserve()
	e.env.OnActivity(e.a.TransferRemind, mock.Anything, "TR-1").Return(nil).Once()
	e.env.OnActivity(e.a.TransferEscalate, mock.Anything, "TR-1").Return(nil).Once()
	e.expectApprove(e.in.Lines, trHQSales)
	e.expectDispatch(e.in.Lines, nil)
	e.expectReceive([]activities.ReceivedLine{{SKU: "HY-01", Dispatched: 10, Received: 10}, {SKU: "RD-02", Dispatched: 4, Received: 4}}, trHQAdmin)
	decide := e.update(150*time.Second, TransferDecideUpdate, TransferDecision{Approve: true, By: trHQSales})
	wrongReceiver := e.update(200*time.Second, TransferReceiveUpdate, TransferReceipt{By: trEastAgent, Lines: []ReceiptLine{{SKU: "HY-01", Received: 10}, {SKU: "RD-02", Received: 4}}})
	e.update(300*time.Second, TransferReceiveUpdate, TransferReceipt{By: trHQAdmin, Lines: []ReceiptLine{{SKU: "HY-01", Received: 10}, {SKU: "RD-02", Received: 4}}})
	if res := e.run(); res.Status != TransferReceived {
		t.Fatalf("result %+v", res)
	}
	decide.wantOutcome(t, TransferInTransit)
	wrongReceiver.wantRefused(t, ErrTypeForbidden)
}

func TestTransferCancelledBeforeDispatch(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	e.env.OnActivity(e.a.TransferRemind, mock.Anything, "TR-1").Return(nil).Once()
	e.expectRelease(e.in.Lines, TransferCancelled)
	e.expectClose(TransferCancelled, trHQSales, func(r string) bool { return r == "found stock elsewhere" })
	notAllowed := e.update(13*time.Hour, TransferCancelUpdate, TransferCancel{Reason: "mine", By: trEastAgent}) // the lender cannot cancel
	noReason := e.update(13*time.Hour, TransferCancelUpdate, TransferCancel{By: trHQSales})
	cancel := e.update(14*time.Hour, TransferCancelUpdate, TransferCancel{Reason: "found stock elsewhere", By: trHQSales})
	res := e.run()
	if res.Status != TransferCancelled {
		t.Fatalf("result %+v", res)
	}
	notAllowed.wantRefused(t, ErrTypeForbidden)
	noReason.wantRefused(t, ErrTypeInvalid, "reason")
	cancel.wantOutcome(t, TransferCancelled)
	e.wantCalls("TransferReserve", "TransferRemind", "TransferRelease", "TransferClose")
}

func TestTransferDispatchFailureCompensates(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	e.expectApprove(trLines("HY-01", 7, "RD-02", 4), trEastAgent)
	refused := temporal.NewNonRetryableApplicationError("WH-EAST HY-01: insufficient stock", activities.ErrTypeStockRefused, nil)
	e.expectDispatch(trLines("HY-01", 7, "RD-02", 4), refused)
	// Only the approved units are still held: the other 3 were released
	// by the approval.
	e.expectRelease(trLines("HY-01", 7, "RD-02", 4), TransferFailed)
	e.expectClose(TransferFailed, activities.SystemActor, func(r string) bool { return strings.HasPrefix(r, "dispatch: ") })
	decide := e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent, Lines: trLines("HY-01", 7)})
	res := e.run()
	if res.Status != TransferFailed || !strings.Contains(res.Failure, "insufficient stock") {
		t.Fatalf("result %+v", res)
	}
	decide.wantOutcome(t, TransferFailed)
	e.wantCalls("TransferReserve", "TransferApprove", "TransferDispatch", "TransferRelease", "TransferClose")
}

func TestTransferShortReceipt(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	e.expectApprove(e.in.Lines, trEastAgent)
	e.expectDispatch(e.in.Lines, nil)
	e.expectReceive([]activities.ReceivedLine{
		{SKU: "HY-01", Dispatched: 10, Received: 8, Reason: "2 crushed in transit"},
		{SKU: "RD-02", Dispatched: 4, Received: 4},
	}, trHQSales)
	e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent})
	over := e.update(2*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQSales, Lines: []ReceiptLine{{SKU: "HY-01", Received: 11}, {SKU: "RD-02", Received: 4, Reason: "x"}}})
	noReason := e.update(3*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQSales, Lines: []ReceiptLine{{SKU: "HY-01", Received: 8}}})
	receive := e.update(4*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQSales, Lines: []ReceiptLine{
		{SKU: "HY-01", Received: 8, Reason: "2 crushed in transit"}, {SKU: "RD-02", Received: 4},
	}})
	res := e.run()
	if res.Status != TransferReceived {
		t.Fatalf("result %+v", res)
	}
	over.wantRefused(t, ErrTypeInvalid, "lines[0].received_qty", "lines[1].reason")
	noReason.wantRefused(t, ErrTypeInvalid, "lines[0].reason", "lines")
	receive.wantOutcome(t, TransferReceived)
}

func TestTransferReservationRefusedFailsWithoutCompensation(t *testing.T) {
	e := newTrEnv(t)
	refused := temporal.NewNonRetryableApplicationError("WH-EAST HY-01: insufficient stock", activities.ErrTypeStockRefused, nil)
	e.env.OnActivity(e.a.TransferReserve, mock.Anything, mock.Anything).Return(activities.StepResult{}, refused).Once()
	e.expectClose(TransferFailed, activities.SystemActor, func(r string) bool { return strings.Contains(r, "insufficient stock") })
	res := e.run()
	if res.Status != TransferFailed {
		t.Fatalf("result %+v", res)
	}
	e.wantCalls("TransferReserve", "TransferClose")
}

func TestTransferWorkflowCancellationCompensates(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	e.expectRelease(e.in.Lines, TransferCancelled)
	e.expectClose(TransferCancelled, activities.SystemActor, trAnyReason)
	e.env.RegisterDelayedCallback(e.env.CancelWorkflow, time.Hour)
	e.env.ExecuteWorkflow(Transfer, e.in)
	if !e.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var res TransferResult
	if err := e.env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != TransferCancelled {
		t.Fatalf("result %+v", res)
	}
	e.env.AssertExpectations(t)
	e.wantCalls("TransferReserve", "TransferRelease", "TransferClose")
}

func TestTransferIDAndTimeouts(t *testing.T) {
	if got := TransferID("TR-2026-0001"); got != "transfer:TR-2026-0001" {
		t.Fatalf("TransferID = %q", got)
	}
	if err := DefaultTransferTimeouts().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []TransferTimeouts{{}, {RemindAfter: time.Hour, EscalateAfter: time.Hour, ExpireAfter: 2 * time.Hour}, {RemindAfter: time.Hour, EscalateAfter: 2 * time.Hour, ExpireAfter: time.Hour}} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestTransferCancellationAfterApprovalDoesNotUndoDispatch: a cancellation
// request that arrives while the approved units are being dispatched lets
// the dispatch finish (it is never abandoned half-way); the units are then
// on the road, so the transfer waits for its receipt regardless.
func TestTransferCancellationAfterApprovalDoesNotUndoDispatch(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	e.expectApprove(e.in.Lines, trEastAgent)
	e.env.OnActivity(e.a.TransferDispatch, mock.Anything, mock.Anything).After(time.Minute).Return(activities.StepResult{Movements: 4}, nil).Once()
	e.expectReceive([]activities.ReceivedLine{{SKU: "HY-01", Dispatched: 10, Received: 10}, {SKU: "RD-02", Dispatched: 4, Received: 4}}, trHQAdmin)
	decide := e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent})
	e.env.RegisterDelayedCallback(e.env.CancelWorkflow, time.Hour+30*time.Second)
	receive := e.update(3*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQAdmin, Lines: []ReceiptLine{{SKU: "HY-01", Received: 10}, {SKU: "RD-02", Received: 4}}})
	if res := e.run(); res.Status != TransferReceived {
		t.Fatalf("result %+v", res)
	}
	decide.wantOutcome(t, TransferInTransit)
	receive.wantOutcome(t, TransferReceived)
	e.wantCalls("TransferReserve", "TransferApprove", "TransferDispatch", "TransferReceive")
}

// TestTransferCancellationDuringApprovalCompensates: cancelled while the
// approval is being recorded (before dispatch), the transfer lets that step
// finish, then releases exactly what it still holds.
func TestTransferCancellationDuringApprovalCompensates(t *testing.T) {
	e := newTrEnv(t)
	e.expectReserve()
	e.env.OnActivity(e.a.TransferApprove, mock.Anything, mock.Anything).After(time.Minute).Return(activities.StepResult{}, nil).Once()
	e.expectRelease(trLines("HY-01", 3, "RD-02", 4), TransferCancelled) // 7 HY-01 were released by the approval
	e.expectClose(TransferCancelled, activities.SystemActor, trAnyReason)
	decide := e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent, Lines: trLines("HY-01", 3)})
	e.env.RegisterDelayedCallback(e.env.CancelWorkflow, time.Hour+30*time.Second)
	if res := e.run(); res.Status != TransferCancelled {
		t.Fatalf("result %+v", res)
	}
	decide.wantOutcome(t, TransferCancelled)
	e.wantCalls("TransferReserve", "TransferApprove", "TransferRelease", "TransferClose")
}

// Receipt deadlines: the transfer of these tests goes from AG-EAST's WH-EAST
// to AG-SOUTH's WH-SOUTH, so that HQ receives only on the agent's behalf.
func newTrReceiptEnv(t *testing.T) *trEnv {
	e := newTrEnv(t)
	e.in.Destination, e.in.DestinationAgent = "WH-SOUTH", "AG-SOUTH"
	return e
}

var trFullReceipt = []ReceiptLine{{SKU: "HY-01", Received: 10}, {SKU: "RD-02", Received: 4}}

// TestTransferReceiptRemindedEscalatedThenReceivedByHQ: dispatched at 1 h and
// never confirmed, the destination is reminded 48 h after the dispatch and
// the receipt escalated to hq_sales 96 h after it (the input, like those of
// workflows started before the receipt deadlines, leaves them zero: the
// defaults). Nothing is received or cancelled automatically; HQ may then
// report the receipt on AG-SOUTH's behalf, which completes the transfer.
func TestTransferReceiptRemindedEscalatedThenReceivedByHQ(t *testing.T) {
	e := newTrReceiptEnv(t)
	e.in.Timeouts = TransferTimeouts{RemindAfter: 12 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 48 * time.Hour}
	e.expectReserve()
	e.expectApprove(e.in.Lines, trEastAgent)
	e.expectDispatch(e.in.Lines, nil)
	e.expectReceiptDeadlines()
	full := []activities.ReceivedLine{{SKU: "HY-01", Dispatched: 10, Received: 10}, {SKU: "RD-02", Dispatched: 4, Received: 4}}
	e.env.OnActivity(e.a.TransferReceive, mock.Anything, mock.MatchedBy(func(in activities.TransferReceiveInput) bool {
		return in.Key == "TR-1" && in.Destination == "WH-SOUTH" && in.Actor == trHQSales && in.OnBehalfOf == "AG-SOUTH" && slices.Equal(in.Lines, full)
	})).Return(activities.StepResult{Movements: 4}, nil).Once()
	e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent})
	hqEarly := e.update(60*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQAdmin, Lines: trFullReceipt})
	before := e.state(96 * time.Hour)
	after := e.state(98 * time.Hour)
	otherAgent := e.update(150*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trEastAgent, Lines: trFullReceipt})
	receive := e.update(200*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQSales, Lines: trFullReceipt})
	if res := e.run(); res.Status != TransferReceived {
		t.Fatalf("result %+v", res)
	}
	hqEarly.wantRefused(t, ErrTypeForbidden) // not escalated yet
	otherAgent.wantRefused(t, ErrTypeForbidden)
	receive.wantOutcome(t, TransferReceived)
	if before.Status != TransferInTransit || before.ReceiptEscalated || !after.ReceiptEscalated || after.Status != TransferInTransit {
		t.Fatalf("state at 96h %+v, at 98h %+v", before, after)
	}
	e.wantCalls("TransferReserve", "TransferApprove", "TransferDispatch", "TransferReceiptRemind", "TransferReceiptEscalate", "TransferReceive")
	e.wantAt(map[string]time.Duration{"TransferReceiptRemind": 49 * time.Hour, "TransferReceiptEscalate": 97 * time.Hour, "TransferReceive": 200 * time.Hour})
}

// TestTransferReceivedBeforeReceiptReminder: received 47 h after the
// dispatch, the transfer fires no receipt reminder and no escalation.
func TestTransferReceivedBeforeReceiptReminder(t *testing.T) {
	e := newTrReceiptEnv(t)
	e.expectReserve()
	e.expectApprove(e.in.Lines, trEastAgent)
	e.expectDispatch(e.in.Lines, nil)
	e.expectReceive([]activities.ReceivedLine{{SKU: "HY-01", Dispatched: 10, Received: 10}, {SKU: "RD-02", Dispatched: 4, Received: 4}}, trSouthAgent)
	e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent})
	hq := e.update(40*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQSales, Lines: trFullReceipt})
	receive := e.update(48*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trSouthAgent, Lines: trFullReceipt})
	if res := e.run(); res.Status != TransferReceived {
		t.Fatalf("result %+v", res)
	}
	hq.wantRefused(t, ErrTypeForbidden)
	receive.wantOutcome(t, TransferReceived)
	e.wantCalls("TransferReserve", "TransferApprove", "TransferDispatch", "TransferReceive")
}

// TestTransferReceiptDeadlinesSurviveARefusedReceipt: with custom receipt
// deadlines (1 h, 3 h), a receipt refused by the booking step before the
// reminder leaves the deadlines running: reminded and escalated on time,
// then received.
func TestTransferReceiptDeadlinesSurviveARefusedReceipt(t *testing.T) {
	e := newTrReceiptEnv(t)
	e.in.Timeouts.ReceiptRemindAfter, e.in.Timeouts.ReceiptEscalateAfter = time.Hour, 3*time.Hour
	e.expectReserve()
	e.expectApprove(e.in.Lines, trEastAgent)
	e.expectDispatch(e.in.Lines, nil)
	refused := temporal.NewNonRetryableApplicationError("transfer TR-1 is received: the step cannot apply", activities.ErrTypeTransferState, nil)
	e.env.OnActivity(e.a.TransferReceive, mock.Anything, mock.Anything).Return(activities.StepResult{}, refused).Once()
	e.expectReceiptDeadlines()
	e.expectReceive([]activities.ReceivedLine{{SKU: "HY-01", Dispatched: 10, Received: 10}, {SKU: "RD-02", Dispatched: 4, Received: 4}}, trHQAdmin)
	e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent})
	first := e.update(time.Hour+30*time.Minute, TransferReceiveUpdate, TransferReceipt{By: trSouthAgent, Lines: trFullReceipt})
	receive := e.update(5*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQAdmin, Lines: trFullReceipt})
	if res := e.run(); res.Status != TransferReceived {
		t.Fatalf("result %+v", res)
	}
	var appErr *temporal.ApplicationError
	if !first.done || !errors.As(first.err, &appErr) || appErr.Type() != ErrTypeConflict {
		t.Fatalf("refused receipt: %+v", first)
	}
	receive.wantOutcome(t, TransferReceived)
	e.wantCalls("TransferReserve", "TransferApprove", "TransferDispatch", "TransferReceive", "TransferReceiptRemind", "TransferReceiptEscalate", "TransferReceive")
	e.wantAt(map[string]time.Duration{"TransferReceiptRemind": 2 * time.Hour, "TransferReceiptEscalate": 4 * time.Hour})
}

// TestTransferBeforeReceiptDeadlineVersionWaitsWithoutDeadlines: a workflow
// that passed the dispatch before the receipt deadlines existed (GetVersion
// answers DefaultVersion) waits for its receipt as it did: no reminder, no
// escalation, HQ may not receive for the agent.
func TestTransferBeforeReceiptDeadlineVersionWaitsWithoutDeadlines(t *testing.T) {
	e := newTrReceiptEnv(t)
	e.env.OnGetVersion(transferReceiptDeadlineChange, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	e.expectReserve()
	e.expectApprove(e.in.Lines, trEastAgent)
	e.expectDispatch(e.in.Lines, nil)
	e.expectReceive([]activities.ReceivedLine{{SKU: "HY-01", Dispatched: 10, Received: 10}, {SKU: "RD-02", Dispatched: 4, Received: 4}}, trSouthAgent)
	e.update(time.Hour, TransferDecideUpdate, TransferDecision{Approve: true, By: trEastAgent})
	hq := e.update(150*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trHQSales, Lines: trFullReceipt})
	e.update(200*time.Hour, TransferReceiveUpdate, TransferReceipt{By: trSouthAgent, Lines: trFullReceipt})
	if res := e.run(); res.Status != TransferReceived {
		t.Fatalf("result %+v", res)
	}
	hq.wantRefused(t, ErrTypeForbidden)
	e.wantCalls("TransferReserve", "TransferApprove", "TransferDispatch", "TransferReceive")
}

func TestTransferReceiptTimeouts(t *testing.T) {
	approval := TransferTimeouts{RemindAfter: time.Hour, EscalateAfter: 2 * time.Hour, ExpireAfter: 3 * time.Hour}
	if err := approval.Validate(); err != nil { // zero receipt deadlines: the defaults
		t.Fatal(err)
	}
	if got := approval.WithReceiptDefaults(); got.ReceiptRemindAfter != 48*time.Hour || got.ReceiptEscalateAfter != 96*time.Hour || got.RemindAfter != time.Hour {
		t.Fatalf("WithReceiptDefaults = %+v", got)
	}
	if d := DefaultTransferTimeouts(); d.ReceiptRemindAfter != 48*time.Hour || d.ReceiptEscalateAfter != 96*time.Hour {
		t.Fatalf("defaults %+v", d)
	}
	custom := approval
	custom.ReceiptRemindAfter, custom.ReceiptEscalateAfter = time.Minute, 2*time.Minute
	if err := custom.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ remind, escalate time.Duration }{
		{-time.Hour, 0}, {0, -time.Hour}, {100 * time.Hour, 0}, {0, time.Hour}, {2 * time.Hour, 2 * time.Hour}, {3 * time.Hour, 2 * time.Hour},
	} {
		tt := approval
		tt.ReceiptRemindAfter, tt.ReceiptEscalateAfter = bad.remind, bad.escalate
		if tt.Validate() == nil {
			t.Errorf("receipt deadlines %s / %s accepted", bad.remind, bad.escalate)
		}
	}
	// An input recorded before the receipt deadlines existed decodes to
	// zero ones (the defaults), and they are left out when zero.
	var old TransferInput
	if err := json.Unmarshal([]byte(`{"key":"TR-OLD","timeouts":{"remind_after":3600000000000,"escalate_after":7200000000000,"expire_after":10800000000000}}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.Timeouts != approval {
		t.Fatalf("old input timeouts %+v", old.Timeouts)
	}
	if b, err := json.Marshal(approval); err != nil || strings.Contains(string(b), "receipt") {
		t.Fatalf("zero receipt deadlines encoded: %s %v", b, err)
	}
}
