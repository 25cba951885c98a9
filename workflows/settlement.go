package workflows

import (
	"errors"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
)

// EntitySettlement is the BoEntity value of rebate settlement workflows.
const EntitySettlement = "settlement"

// Update and query names of the settlement workflow.
const (
	SettlementAdjustUpdate    = "adjust"
	SettlementApproveUpdate   = "approve"
	SettlementRecomputeUpdate = "recompute"
	SettlementCancelUpdate    = "cancel"
	SettlementStatusQuery     = "status"
)

// GetVersion change IDs of the settlement workflow. Each guards an update
// added after the workflow shipped: the handler records its marker when it
// first runs, so histories from before it (which never ran it) replay
// unchanged.
const (
	settlementRecomputeChange = "settlement-recompute"
	settlementCancelChange    = "settlement-cancel"
)

// DefaultSettlementBatch is how many agents one compute or post activity
// covers.
const DefaultSettlementBatch = 500

// SettlementID is the workflow ID of the settlement with key key (the period
// for a final, e.g. "rebate:2026-Q3"): one workflow per settlement, ever.
func SettlementID(key string) string { return workflowID("rebate", key) }

// SettlementInput starts a Settlement workflow.
type SettlementInput struct {
	activities.SettlementSpec
	// BatchSize is how many agents one activity computes or posts
	// (DefaultSettlementBatch when zero).
	BatchSize int `json:"batch_size,omitempty"`
}

// SettlementAdjustment is an adjustment line finance adds in review.
type SettlementAdjustment struct {
	Actor   Actor           `json:"actor"`
	Agent   string          `json:"agent"`
	Program string          `json:"program"`
	Amount  decimal.Decimal `json:"amount"`
	Reason  string          `json:"reason"`
}

// SettlementApproval approves the settlement for posting.
type SettlementApproval struct {
	Actor Actor `json:"actor"`
}

// SettlementCancel cancels an interim or correction in review.
type SettlementCancel struct {
	Actor  Actor  `json:"actor"`
	Reason string `json:"reason"`
}

// SettlementRecompute asks for every statement to be computed again in
// review, with the same cut-offs: returns, data points, program versions or
// campaign figures recorded since are taken in; adjustment lines are kept.
type SettlementRecompute struct {
	Actor Actor `json:"actor"`
}

// SettlementState is what the status query returns and updates answer with.
type SettlementState struct {
	ID          string                       `json:"id"`
	Period      string                       `json:"period"`
	Kind        string                       `json:"kind"`
	Status      string                       `json:"status"`
	StartedBy   int64                        `json:"started_by,omitempty"`
	ApprovedBy  int64                        `json:"approved_by,omitempty"`
	AgentsTotal int                          `json:"agents_total"`
	AgentsDone  int                          `json:"agents_done"`
	Posted      int                          `json:"posted"`
	Adjustments int                          `json:"adjustments"`
	Totals      *activities.SettlementTotals `json:"totals,omitempty"`
	// Statement is the adjusted statement, in an adjust update's answer.
	Statement *activities.StatementTotals `json:"statement,omitempty"`
}

type settlementWF struct {
	st          SettlementState
	adjusting   int // adjustment updates in flight
	approving   bool
	recomputing bool
	cancelling  bool
	cancelled   bool
	// incomplete: the last recompute was refused part-way (a program that
	// cannot be computed); approval waits for a recompute that succeeds.
	incomplete error
}

func (w *settlementWF) validateCancel(c SettlementCancel) error {
	if c.Actor.Role != "finance" {
		return appErr(ErrTypeForbidden, "only finance cancels a settlement")
	}
	if w.st.Kind == "final" {
		return appErr(ErrTypeConflict, "a final settlement is not cancelled: recompute it, adjust it, or correct it after publishing")
	}
	if c.Reason == "" || len(c.Reason) > 500 {
		return appErr(ErrTypeInvalid, "a cancellation needs a reason (up to 500 characters)")
	}
	if w.st.Status != activities.SettlementReview || w.approving || w.recomputing || w.adjusting > 0 || w.cancelling {
		return appErr(ErrTypeConflict, "the settlement is %s: only a settlement in review, with nothing under way, can be cancelled", w.st.Status)
	}
	return nil
}

func (w *settlementWF) validateRecompute(r SettlementRecompute) error {
	if r.Actor.Role != "finance" {
		return appErr(ErrTypeForbidden, "only finance recomputes a settlement")
	}
	if w.st.Status != activities.SettlementReview || w.approving || w.recomputing || w.adjusting > 0 || w.cancelling {
		return appErr(ErrTypeConflict, "the settlement is %s: it is recomputed in review, when no adjustment or approval is under way", w.st.Status)
	}
	return nil
}

func (w *settlementWF) validateAdjustment(a SettlementAdjustment) error {
	if a.Actor.Role != "finance" {
		return appErr(ErrTypeForbidden, "only finance adjusts a settlement")
	}
	if w.st.Status != activities.SettlementReview || w.approving || w.recomputing || w.cancelling {
		return appErr(ErrTypeConflict, "the settlement is %s: adjustments are taken in review", w.st.Status)
	}
	if a.Agent == "" || a.Program == "" || a.Amount.IsZero() || !a.Amount.Equal(a.Amount.Round(2)) || a.Reason == "" || len(a.Reason) > 500 {
		return appErr(ErrTypeInvalid, "an adjustment needs an agent, a program, a non-zero amount to the fen and a reason (up to 500 characters)")
	}
	return nil
}

func (w *settlementWF) validateApproval(a SettlementApproval) error {
	if a.Actor.Role != "finance" {
		return appErr(ErrTypeForbidden, "only finance approves a settlement")
	}
	if w.st.Status != activities.SettlementReview || w.approving || w.recomputing || w.cancelling {
		return appErr(ErrTypeConflict, "the settlement is %s: no approval is awaited", w.st.Status)
	}
	if a.Actor.UserID == w.st.StartedBy {
		return appErr(ErrTypeForbidden, "the settlement needs approval by a finance user other than the one who started it")
	}
	if w.incomplete != nil {
		return appErr(ErrTypeConflict, "the last recompute was refused (%v): fix it and recompute before approving", w.incomplete)
	}
	if w.adjusting > 0 {
		return appErr(ErrTypeConflict, "an adjustment is being applied: approve once it is done")
	}
	return nil
}

// passOn turns an activity's refusal into the update's rejection of the same
// type, so the API maps it to its status.
func passOn(err error) error {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && (ae.Type() == ErrTypeConflict || ae.Type() == ErrTypeInvalid) {
		return appErr(ae.Type(), "%s", ae.Message())
	}
	return err
}

// Settlement settles a period's rebates: freeze (record it, fix the
// cut-offs), compute every agent's statement in batches (SQL sums per batch,
// the pure calculation per agent), review — finance may add adjustment lines
// (the "adjust" update) — until a finance user other than the one who started
// it approves (the "approve" update), post one credit (or debit) note per
// agent and program in batches, exactly once, and publish. Progress is kept
// in the settlement's row and answered by the "status" query.
func Settlement(ctx workflow.Context, in SettlementInput) (SettlementState, error) {
	w := &settlementWF{st: SettlementState{ID: in.ID, Period: in.Period, Kind: in.Kind, Status: activities.SettlementStarted, StartedBy: in.StartedBy}}
	if err := workflow.SetQueryHandler(ctx, SettlementStatusQuery, func() (SettlementState, error) { return w.st, nil }); err != nil {
		return w.st, err
	}
	batch := in.BatchSize
	if batch <= 0 {
		batch = DefaultSettlementBatch
	}
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		// A batch takes well under this; a worker that died mid-batch is
		// noticed after it, and the batch retried elsewhere.
		HeartbeatTimeout: 30 * time.Second,
		RetryPolicy:      &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	}
	actx := workflow.WithActivityOptions(ctx, opts)
	var a *activities.Rebates

	if err := workflow.SetUpdateHandlerWithOptions(ctx, SettlementAdjustUpdate,
		func(ctx workflow.Context, adj SettlementAdjustment) (SettlementState, error) {
			w.adjusting++
			defer func() { w.adjusting-- }()
			actx := workflow.WithActivityOptions(ctx, opts)
			var res activities.StatementTotals
			err := workflow.ExecuteActivity(actx, a.AddAdjustment, activities.AdjustmentInput{
				ID: in.ID, Agent: adj.Agent, Program: adj.Program, Amount: adj.Amount, Reason: adj.Reason,
				UserID: adj.Actor.UserID, Key: workflow.GetCurrentUpdateInfo(ctx).ID,
			}).Get(actx, &res)
			if err != nil {
				return w.st, passOn(err)
			}
			w.st.Adjustments++
			out := w.st
			out.Statement = &res
			return out, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, adj SettlementAdjustment) error { return w.validateAdjustment(adj) }}); err != nil {
		return w.st, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, SettlementApproveUpdate,
		func(ctx workflow.Context, ap SettlementApproval) (SettlementState, error) {
			w.approving = true
			defer func() { w.approving = false }()
			actx := workflow.WithActivityOptions(ctx, opts)
			if err := workflow.ExecuteActivity(actx, a.Approve, activities.ApproveInput{ID: in.ID, UserID: ap.Actor.UserID}).Get(actx, nil); err != nil {
				return w.st, passOn(err)
			}
			w.st.ApprovedBy = ap.Actor.UserID
			w.st.Status = activities.SettlementApproved
			return w.st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, ap SettlementApproval) error { return w.validateApproval(ap) }}); err != nil {
		return w.st, err
	}

	// statusIn records the status from the coroutine of ctx (the workflow's
	// or an update handler's), with actx its activity context.
	statusIn := func(ctx, actx workflow.Context, s string) error {
		w.st.Status = s
		if err := workflow.ExecuteActivity(actx, a.SetSettlementStatus, activities.SettlementStatusInput{ID: in.ID, Status: s}).Get(actx, nil); err != nil {
			return err
		}
		return setStatus(ctx, s)
	}
	status := func(s string) error { return statusIn(ctx, actx, s) }

	compute := func(actx workflow.Context) error {
		for after := ""; ; {
			var r activities.BatchResult
			if err := workflow.ExecuteActivity(actx, a.ComputeBatch, activities.BatchInput{ID: in.ID, After: after, Limit: batch}).Get(actx, &r); err != nil {
				return err
			}
			if r.Last == "" {
				return nil
			}
			after, w.st.AgentsDone = r.Last, r.Done
		}
	}
	// Recompute (in review): clear the statements, recount the agents and
	// compute them all again with the same cut-offs, then back to review. A
	// refusal part-way (a program that cannot be computed) returns to review
	// with approval refused until a recompute succeeds.
	if err := workflow.SetUpdateHandlerWithOptions(ctx, SettlementRecomputeUpdate,
		func(ctx workflow.Context, r SettlementRecompute) (SettlementState, error) {
			w.recomputing = true
			defer func() { w.recomputing = false }()
			workflow.GetVersion(ctx, settlementRecomputeChange, workflow.DefaultVersion, 1)
			actx := workflow.WithActivityOptions(ctx, opts)
			var fr activities.FreezeResult
			if err := workflow.ExecuteActivity(actx, a.ClearStatements, in.ID).Get(actx, &fr); err != nil {
				return w.st, passOn(err) // nothing cleared: still in review
			}
			w.st.Status = activities.SettlementComputing
			if err := setStatus(ctx, w.st.Status); err != nil {
				return w.st, err
			}
			w.st.AgentsTotal, w.st.AgentsDone = fr.Agents, 0
			cerr := compute(actx)
			if err := statusIn(ctx, actx, activities.SettlementReview); err != nil {
				return w.st, err
			}
			if cerr != nil {
				w.incomplete = cerr
				return w.st, passOn(cerr)
			}
			w.incomplete = nil
			return w.st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, r SettlementRecompute) error { return w.validateRecompute(r) }}); err != nil {
		return w.st, err
	}

	// Cancel (an interim or correction in review): nothing was posted; the
	// workflow ends cancelled and the period is free for another settlement.
	if err := workflow.SetUpdateHandlerWithOptions(ctx, SettlementCancelUpdate,
		func(ctx workflow.Context, c SettlementCancel) (SettlementState, error) {
			w.cancelling = true
			defer func() { w.cancelling = false }()
			workflow.GetVersion(ctx, settlementCancelChange, workflow.DefaultVersion, 1)
			actx := workflow.WithActivityOptions(ctx, opts)
			if err := workflow.ExecuteActivity(actx, a.CancelSettlement, in.ID).Get(actx, nil); err != nil {
				return w.st, passOn(err)
			}
			w.st.Status, w.cancelled = activities.SettlementCancelled, true
			if err := setStatus(ctx, w.st.Status); err != nil {
				return w.st, err
			}
			return w.st, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, c SettlementCancel) error { return w.validateCancel(c) }}); err != nil {
		return w.st, err
	}

	var fr activities.FreezeResult
	if err := workflow.ExecuteActivity(actx, a.Freeze, in.SettlementSpec).Get(actx, &fr); err != nil {
		return w.fail(ctx, actx, err)
	}
	w.st.AgentsTotal = fr.Agents
	w.st.Status = activities.SettlementComputing
	if err := setStatus(ctx, w.st.Status); err != nil {
		return w.st, err
	}
	if err := compute(actx); err != nil {
		return w.fail(ctx, actx, err)
	}
	if err := status(activities.SettlementReview); err != nil {
		return w.st, err
	}
	if err := workflow.Await(ctx, func() bool {
		return (w.st.Status == activities.SettlementApproved || w.cancelled) && w.adjusting == 0 && !w.recomputing
	}); err != nil {
		return w.st, err
	}
	if w.cancelled {
		if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
			return w.st, err
		}
		return w.st, nil
	}
	if err := setStatus(ctx, w.st.Status); err != nil {
		return w.st, err
	}
	if err := status(activities.SettlementPosting); err != nil {
		return w.st, err
	}
	for after := ""; ; {
		var r activities.BatchResult
		if err := workflow.ExecuteActivity(actx, a.PostBatch, activities.BatchInput{ID: in.ID, After: after, Limit: batch}).Get(actx, &r); err != nil {
			return w.st, err
		}
		if r.Last == "" {
			break
		}
		after, w.st.Posted = r.Last, r.Posted
	}
	var totals activities.SettlementTotals
	if err := workflow.ExecuteActivity(actx, a.Publish, in.ID).Get(actx, &totals); err != nil {
		return w.st, err
	}
	w.st.Totals, w.st.Posted = &totals, totals.Notes
	w.st.Status = activities.SettlementPublished
	if err := setStatus(ctx, w.st.Status); err != nil {
		return w.st, err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return w.st, err
	}
	return w.st, nil
}

// fail records a settlement refused for good (a bad program, a correction
// without a final) as failed and ends the workflow with the refusal; other
// errors end it as they are.
func (w *settlementWF) fail(ctx, actx workflow.Context, err error) (SettlementState, error) {
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || !ae.NonRetryable() {
		return w.st, err
	}
	var a *activities.Rebates
	w.st.Status = activities.SettlementFailed
	if serr := workflow.ExecuteActivity(actx, a.SetSettlementStatus, activities.SettlementStatusInput{ID: w.st.ID, Status: w.st.Status}).Get(actx, nil); serr != nil {
		return w.st, serr
	}
	if serr := setStatus(ctx, w.st.Status); serr != nil {
		return w.st, serr
	}
	return w.st, err
}
