package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
)

// EntityCampaign is the BoEntity value of campaign workflows.
const EntityCampaign = "campaign"

// Update and query names of the campaign workflow.
const (
	CampaignCancelUpdate = "cancel" // before the start: cancelled; after: withdrawn
	CampaignStatusQuery  = "status"
)

// CampaignID is the workflow ID of campaign id.
func CampaignID(id string) string { return workflowID("campaign", id) }

// CampaignInput starts a Campaign workflow: the schedule, fixed at publish.
type CampaignInput struct {
	ID            string        `json:"id"`
	AckDeadline   time.Time     `json:"ack_deadline"`
	StartsAt      time.Time     `json:"starts_at"`
	EndsAt        time.Time     `json:"ends_at"`
	ReminderEvery time.Duration `json:"reminder_every"`
}

// CampaignCancel cancels (before the start) or withdraws (after it) a campaign.
type CampaignCancel struct {
	UserID int64  `json:"user_id"`
	Reason string `json:"reason"`
}

// CampaignState is what the status query returns.
type CampaignState struct {
	Status    string `json:"status"`
	Targets   int    `json:"targets"`
	Reminders int    `json:"reminders"`
	Escalated int    `json:"escalated"`
}

// MaxCampaignReminders bounds the reminders of one campaign (and so its history).
const MaxCampaignReminders = 100

// Campaign drives one campaign: publish (targets, inbox rows, webhooks) →
// reminders until the acknowledgement deadline → escalation of silent stores
// to their agents → live at the start (terms apply to acknowledged targets)
// → closed at the end with a final report. Acknowledgements never touch the
// workflow: they are rows in PostgreSQL, counted by the activities, so the
// history stays bounded whatever the number of targets (a handful of events
// per reminder).
func Campaign(ctx workflow.Context, in CampaignInput) (CampaignState, error) {
	st := CampaignState{Status: activities.CampaignDraft}
	var cancel *CampaignCancel
	if err := workflow.SetQueryHandler(ctx, CampaignStatusQuery, func() (CampaignState, error) { return st, nil }); err != nil {
		return st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, CampaignCancelUpdate,
		func(ctx workflow.Context, c CampaignCancel) (CampaignState, error) {
			cancel = &c
			err := workflow.Await(ctx, func() bool {
				return st.Status == activities.CampaignCancelled || st.Status == activities.CampaignWithdrawn
			})
			return st, err
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, c CampaignCancel) error {
			switch {
			case cancel != nil:
				return temporal.NewApplicationError("the campaign is already being cancelled", ErrTypeConflict)
			case st.Status == activities.CampaignClosed || st.Status == activities.CampaignCancelled || st.Status == activities.CampaignWithdrawn:
				return temporal.NewApplicationError(fmt.Sprintf("the campaign is %s", st.Status), ErrTypeConflict)
			case c.Reason == "":
				return temporal.NewApplicationError("a reason is required", ErrTypeInvalid)
			}
			return nil
		}}); err != nil {
		return st, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var a *activities.Campaigns
	status := func(s string) error {
		in := activities.CampaignStatusInput{ID: in.ID, Status: s, Actor: "system"}
		if cancel != nil {
			in.Actor, in.Reason = fmt.Sprintf("user:%d", cancel.UserID), cancel.Reason
		}
		if err := workflow.ExecuteActivity(actx, a.SetCampaignStatus, in).Get(actx, nil); err != nil {
			return err
		}
		st.Status = s
		return setStatus(ctx, s)
	}
	// wait sleeps until t or a cancellation, whichever comes first.
	wait := func(t time.Time) (bool, error) {
		d := t.Sub(workflow.Now(ctx))
		if d <= 0 {
			return cancel != nil, nil
		}
		return workflow.AwaitWithTimeout(ctx, d, func() bool { return cancel != nil })
	}

	var pub activities.PublishResult
	if err := workflow.ExecuteActivity(actx, a.PublishCampaign, in.ID).Get(actx, &pub); err != nil {
		return st, err
	}
	st.Status, st.Targets = activities.CampaignPublished, pub.Targets
	if err := setStatus(ctx, st.Status); err != nil {
		return st, err
	}
	if err := workflow.ExecuteActivity(actx, a.SendCampaignWebhooks, in.ID).Get(actx, nil); err != nil {
		return st, err
	}

	// Reminders on a schedule until the acknowledgement deadline.
	published := workflow.Now(ctx)
	for n := 1; in.ReminderEvery > 0 && n <= MaxCampaignReminders; n++ {
		at := published.Add(time.Duration(n) * in.ReminderEvery)
		if !at.Before(in.AckDeadline) {
			break
		}
		if cancelled, err := wait(at); err != nil || cancelled {
			return st, finishCancel(ctx, actx, a, in, &st, status, err)
		}
		var sent int
		if err := workflow.ExecuteActivity(actx, a.RemindCampaign, in.ID, n).Get(actx, &sent); err != nil {
			return st, err
		}
		st.Reminders = n
	}
	// Escalate every store still silent at the deadline to its agent.
	if cancelled, err := wait(in.AckDeadline); err != nil || cancelled {
		return st, finishCancel(ctx, actx, a, in, &st, status, err)
	}
	if err := workflow.ExecuteActivity(actx, a.EscalateCampaign, in.ID).Get(actx, &st.Escalated); err != nil {
		return st, err
	}
	// Live at the start: the terms now apply to acknowledged targets.
	if cancelled, err := wait(in.StartsAt); err != nil || cancelled {
		return st, finishCancel(ctx, actx, a, in, &st, status, err)
	}
	if err := status(activities.CampaignLive); err != nil {
		return st, err
	}
	// Until the end, or a withdrawal.
	if withdrawn, err := wait(in.EndsAt); err != nil || withdrawn {
		return st, finishCancel(ctx, actx, a, in, &st, status, err)
	}
	if err := workflow.ExecuteActivity(actx, a.CampaignReport, in.ID).Get(actx, nil); err != nil {
		return st, err
	}
	if err := status(activities.CampaignClosed); err != nil {
		return st, err
	}
	return st, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// finishCancel ends a cancelled (before the start) or withdrawn (after it)
// campaign: status, final report, and the update's reply.
func finishCancel(ctx, actx workflow.Context, a *activities.Campaigns, in CampaignInput, st *CampaignState, status func(string) error, err error) error {
	if err != nil {
		return err
	}
	next := activities.CampaignCancelled
	if st.Status == activities.CampaignLive {
		next = activities.CampaignWithdrawn
	}
	if err := status(next); err != nil {
		return err
	}
	if err := workflow.ExecuteActivity(actx, a.CampaignReport, in.ID).Get(actx, nil); err != nil {
		return err
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}
