package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/alliance/backoffice/activities"
)

type campaignEnv struct {
	env      *testsuite.TestWorkflowEnvironment
	a        *activities.Campaigns
	start    time.Time
	calls    []string
	at       []time.Duration
	statuses []string
}

// newCampaignEnv mocks every campaign activity, recording each call and when.
func newCampaignEnv(t *testing.T) *campaignEnv {
	var s testsuite.WorkflowTestSuite
	e := &campaignEnv{env: s.NewTestWorkflowEnvironment()}
	e.env.RegisterActivity(e.a)
	e.start = e.env.Now()
	rec := func(name string) { e.calls, e.at = append(e.calls, name), append(e.at, e.env.Now().Sub(e.start)) }
	e.env.OnActivity(e.a.PublishCampaign, mock.Anything, "CMP-1").Return(func(context.Context, string) (activities.PublishResult, error) {
		rec("publish")
		return activities.PublishResult{Targets: 10000, Notified: 10000}, nil
	}).Once()
	e.env.OnActivity(e.a.SendCampaignWebhooks, mock.Anything, "CMP-1").Return(func(context.Context, string) (int, error) {
		rec("webhooks")
		return 10000, nil
	}).Once()
	e.env.OnActivity(e.a.RemindCampaign, mock.Anything, "CMP-1", mock.Anything).Return(func(_ context.Context, _ string, n int) (int, error) {
		rec("remind")
		return 100, nil
	}).Maybe()
	e.env.OnActivity(e.a.EscalateCampaign, mock.Anything, "CMP-1").Return(func(context.Context, string) (int, error) {
		rec("escalate")
		return 7, nil
	}).Maybe()
	e.env.OnActivity(e.a.SetCampaignStatus, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CampaignStatusInput) error {
		rec("status:" + in.Status)
		e.statuses = append(e.statuses, in.Status)
		return nil
	}).Maybe()
	e.env.OnActivity(e.a.CampaignReport, mock.Anything, "CMP-1").Return(func(context.Context, string) error {
		rec("report")
		return nil
	}).Maybe()
	return e
}

func (e *campaignEnv) input() CampaignInput {
	return CampaignInput{ID: "CMP-1", AckDeadline: e.start.Add(72 * time.Hour), StartsAt: e.start.Add(96 * time.Hour),
		EndsAt: e.start.Add(96*time.Hour + 30*24*time.Hour), ReminderEvery: 24 * time.Hour}
}

func (e *campaignEnv) run(t *testing.T, in CampaignInput) CampaignState {
	t.Helper()
	e.env.ExecuteWorkflow(Campaign, in)
	if !e.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var st CampaignState
	if err := e.env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCampaignFullSchedule(t *testing.T) {
	e := newCampaignEnv(t)
	st := e.run(t, e.input())
	want := []string{"publish", "webhooks", "remind", "remind", "escalate", "status:live", "report", "status:closed"}
	if len(e.calls) != len(want) {
		t.Fatalf("calls %v, want %v", e.calls, want)
	}
	for i := range want {
		if e.calls[i] != want[i] {
			t.Fatalf("calls %v, want %v", e.calls, want)
		}
	}
	// Reminders at 24 h and 48 h (the 72 h one would fall on the deadline),
	// escalation at the 72 h deadline, live at 96 h, closed 30 days later.
	for i, at := range map[int]time.Duration{2: 24 * time.Hour, 3: 48 * time.Hour, 4: 72 * time.Hour, 5: 96 * time.Hour, 7: 96*time.Hour + 30*24*time.Hour} {
		if e.at[i] != at {
			t.Errorf("%s at %s, want %s", e.calls[i], e.at[i], at)
		}
	}
	if st.Status != activities.CampaignClosed || st.Targets != 10000 || st.Reminders != 2 || st.Escalated != 7 {
		t.Fatalf("state %+v", st)
	}
}

func cancelAt(e *campaignEnv, d time.Duration, reason string) *updateResult {
	r := &updateResult{}
	e.env.RegisterDelayedCallback(func() {
		e.env.UpdateWorkflow(CampaignCancelUpdate, "", &testsuite.TestUpdateCallback{
			OnAccept:   func() {},
			OnReject:   func(err error) { r.rejected, r.done = err, true },
			OnComplete: func(_ any, err error) { r.err, r.done = err, true },
		}, CampaignCancel{UserID: 1, Reason: reason})
	}, d)
	return r
}

func TestCampaignCancelledBeforeStart(t *testing.T) {
	e := newCampaignEnv(t)
	noReason := cancelAt(e, 30*time.Hour, "")
	ok := cancelAt(e, 30*time.Hour+time.Minute, "wrong materials")
	st := e.run(t, e.input())
	if st.Status != activities.CampaignCancelled {
		t.Fatalf("status %s", st.Status)
	}
	rejectedAs(t, noReason, ErrTypeInvalid)
	if !ok.done || ok.err != nil || ok.rejected != nil {
		t.Fatalf("cancel update %+v", ok)
	}
	for _, c := range e.calls {
		if c == "escalate" || c == "status:live" {
			t.Fatalf("a cancelled campaign went on: %v", e.calls)
		}
	}
	if e.statuses[len(e.statuses)-1] != activities.CampaignCancelled {
		t.Fatalf("statuses %v", e.statuses)
	}
}

func TestCampaignWithdrawnAfterStart(t *testing.T) {
	e := newCampaignEnv(t)
	cancelAt(e, 100*time.Hour, "supplier recall")
	late := cancelAt(e, 101*time.Hour, "again")
	st := e.run(t, e.input())
	if st.Status != activities.CampaignWithdrawn {
		t.Fatalf("status %s", st.Status)
	}
	if late.done && late.rejected == nil && late.err == nil {
		t.Fatal("a second cancellation was accepted")
	}
	if e.calls[len(e.calls)-1] != "report" || e.at[len(e.at)-1] != 100*time.Hour {
		t.Fatalf("calls %v at %v: want the report at the withdrawal", e.calls, e.at)
	}
}

func TestCampaignDeadlineBeforeFirstReminder(t *testing.T) {
	e := newCampaignEnv(t)
	in := e.input()
	in.AckDeadline = e.start.Add(10 * time.Hour) // before the first 24 h reminder
	in.StartsAt = e.start.Add(10 * time.Hour)
	in.EndsAt = e.start.Add(20 * time.Hour)
	st := e.run(t, in)
	if st.Reminders != 0 || st.Status != activities.CampaignClosed {
		t.Fatalf("state %+v, calls %v", st, e.calls)
	}
}
