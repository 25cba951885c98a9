package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
)

type settlementEnv struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	a   *activities.Rebates
}

var (
	financeStarter  = Actor{UserID: 30, Role: "finance"}
	financeApprover = Actor{UserID: 31, Role: "finance"}
)

func newSettlementEnv(t *testing.T) *settlementEnv {
	var s testsuite.WorkflowTestSuite
	e := &settlementEnv{t: t, env: s.NewTestWorkflowEnvironment()}
	e.env.RegisterActivity(e.a)
	e.env.OnActivity(e.a.SetSettlementStatus, mock.Anything, mock.Anything).Return(nil)
	return e
}

func (e *settlementEnv) update(delay time.Duration, name string, arg any) *updateResult {
	r := &updateResult{}
	e.env.RegisterDelayedCallback(func() {
		e.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { r.rejected, r.done = err, true },
			OnComplete: func(v any, err error) { r.err, r.done = err, true },
		}, arg)
	}, delay)
	return r
}

var q3 = SettlementInput{SettlementSpec: activities.SettlementSpec{ID: "2026-Q3", Period: "2026-Q3", Kind: "final", StartedBy: financeStarter.UserID, GraceDays: 5}, BatchSize: 2}

func batch(id, after string) activities.BatchInput {
	return activities.BatchInput{ID: id, After: after, Limit: 2}
}

func TestSettlementReviewAdjustApproveByAnotherUserPostPublish(t *testing.T) {
	e := newSettlementEnv(t)
	e.env.OnActivity(e.a.Freeze, mock.Anything, q3.SettlementSpec).Return(activities.FreezeResult{Agents: 3, Programs: 1}, nil).Once()
	// Three agents in batches of two.
	e.env.OnActivity(e.a.ComputeBatch, mock.Anything, batch("2026-Q3", "")).Return(activities.BatchResult{Last: "AG-2", Agents: 2, Done: 2}, nil).Once()
	e.env.OnActivity(e.a.ComputeBatch, mock.Anything, batch("2026-Q3", "AG-2")).Return(activities.BatchResult{Last: "AG-3", Agents: 1, Done: 3}, nil).Once()
	e.env.OnActivity(e.a.ComputeBatch, mock.Anything, batch("2026-Q3", "AG-3")).Return(activities.BatchResult{}, nil).Once()
	e.env.OnActivity(e.a.AddAdjustment, mock.Anything, mock.MatchedBy(func(in activities.AdjustmentInput) bool {
		return in.Agent == "AG-2" && in.Program == "VOL" && in.Amount.Equal(decimal.RequireFromString("150.00")) && in.UserID == 30 && in.Key != ""
	})).Return(activities.StatementTotals{Agent: "AG-2", Program: "VOL", Total: decimal.RequireFromString("4150.00")}, nil).Once()
	e.env.OnActivity(e.a.Approve, mock.Anything, activities.ApproveInput{ID: "2026-Q3", UserID: 31}).Return(nil).Once()
	e.env.OnActivity(e.a.PostBatch, mock.Anything, batch("2026-Q3", "")).Return(activities.BatchResult{Last: "AG-2", Posted: 2}, nil).Once()
	e.env.OnActivity(e.a.PostBatch, mock.Anything, batch("2026-Q3", "AG-2")).Return(activities.BatchResult{Last: "AG-3", Posted: 3}, nil).Once()
	e.env.OnActivity(e.a.PostBatch, mock.Anything, batch("2026-Q3", "AG-3")).Return(activities.BatchResult{}, nil).Once()
	e.env.OnActivity(e.a.Publish, mock.Anything, "2026-Q3").Return(activities.SettlementTotals{TotalCredit: decimal.RequireFromString("12150.00"), Notes: 3}, nil).Once()

	var inReview SettlementState
	e.env.RegisterDelayedCallback(func() {
		v, err := e.env.QueryWorkflow(SettlementStatusQuery)
		if err == nil {
			err = v.Get(&inReview)
		}
		if err != nil {
			t.Error(err)
		}
	}, time.Hour)
	adj := e.update(2*time.Hour, SettlementAdjustUpdate, SettlementAdjustment{Actor: financeStarter, Agent: "AG-2", Program: "VOL", Amount: decimal.RequireFromString("150.00"), Reason: "display fixtures"})
	badAmount := e.update(2*time.Hour+time.Minute, SettlementAdjustUpdate, SettlementAdjustment{Actor: financeStarter, Agent: "AG-2", Program: "VOL", Amount: decimal.RequireFromString("1.005"), Reason: "x"})
	notFinance := e.update(2*time.Hour+2*time.Minute, SettlementAdjustUpdate, SettlementAdjustment{Actor: Actor{UserID: 40, Role: "hq_admin"}, Agent: "AG-2", Program: "VOL", Amount: decimal.RequireFromString("1.00"), Reason: "x"})
	sameUser := e.update(24*time.Hour, SettlementApproveUpdate, SettlementApproval{Actor: financeStarter})
	sales := e.update(24*time.Hour+time.Minute, SettlementApproveUpdate, SettlementApproval{Actor: sales1})
	approved := e.update(48*time.Hour, SettlementApproveUpdate, SettlementApproval{Actor: financeApprover})
	late := e.update(49*time.Hour, SettlementAdjustUpdate, SettlementAdjustment{Actor: financeStarter, Agent: "AG-2", Program: "VOL", Amount: decimal.RequireFromString("1.00"), Reason: "late"})

	e.env.ExecuteWorkflow(Settlement, q3)
	if !e.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var st SettlementState
	if err := e.env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	e.env.AssertExpectations(t)
	if inReview.Status != activities.SettlementReview || inReview.AgentsTotal != 3 || inReview.AgentsDone != 3 {
		t.Errorf("in review %+v", inReview)
	}
	if !adj.done || adj.rejected != nil || adj.err != nil {
		t.Errorf("adjustment %+v", adj)
	}
	rejectedAs(t, badAmount, ErrTypeInvalid)
	rejectedAs(t, notFinance, ErrTypeForbidden)
	rejectedAs(t, sameUser, ErrTypeForbidden)
	rejectedAs(t, sales, ErrTypeForbidden)
	if !approved.done || approved.rejected != nil || approved.err != nil {
		t.Errorf("approval %+v", approved)
	}
	if late.done && late.rejected == nil {
		t.Error("an adjustment after approval was accepted")
	}
	if st.Status != activities.SettlementPublished || st.ApprovedBy != 31 || st.Adjustments != 1 || st.Posted != 3 ||
		st.Totals == nil || st.Totals.TotalCredit.StringFixed(2) != "12150.00" {
		t.Errorf("final state %+v", st)
	}
}

func TestSettlementRefusedAtFreezeIsRecordedFailed(t *testing.T) {
	e := newSettlementEnv(t)
	in := q3
	in.ID, in.Kind = "2026-Q3-correction-1", "correction"
	e.env.OnActivity(e.a.Freeze, mock.Anything, in.SettlementSpec).
		Return(activities.FreezeResult{}, temporal.NewNonRetryableApplicationError("2026-Q3 has no published final settlement to correct", ErrTypeConflict, nil)).Once()
	e.env.OnActivity(e.a.SetSettlementStatus, mock.Anything, activities.SettlementStatusInput{ID: in.ID, Status: activities.SettlementFailed}).Return(nil).Once()
	e.env.ExecuteWorkflow(Settlement, in)
	var ae *temporal.ApplicationError
	if err := e.env.GetWorkflowError(); !errors.As(err, &ae) || ae.Type() != ErrTypeConflict {
		t.Fatalf("workflow error %v, want the refusal", err)
	}
}

func TestSettlementTriggerStartsTheQuarterThatEndedOnce(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	// The schedule fires on 6 October (after the 5 grace days of Q3).
	env.SetStartTime(time.Date(2026, 10, 6, 0, 0, 0, 0, time.UTC))
	env.RegisterWorkflow(Settlement)
	var got SettlementInput
	env.OnWorkflow(Settlement, mock.Anything, mock.Anything).Return(func(_ workflow.Context, in SettlementInput) (SettlementState, error) {
		got = in
		return SettlementState{ID: in.ID, Status: activities.SettlementPublished}, nil
	}).Once()
	env.ExecuteWorkflow(SettlementTrigger, SettlementTriggerInput{GraceDays: 5})
	var res SettlementTriggerResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if !res.Started || res.Period != "2026-Q3" || got.ID != "2026-Q3" || got.Kind != "final" || got.StartedBy != 0 || got.GraceDays != 5 {
		t.Fatalf("trigger %+v started %+v", res, got)
	}
	env.AssertExpectations(t)
}
