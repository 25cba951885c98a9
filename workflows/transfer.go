package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/alliance/backoffice/activities"
)

// EntityTransfer is the BoEntity value of cross-channel stock transfer workflows.
const EntityTransfer = "transfer"

// Transfer statuses, as stored and as the BoStatus search attribute.
const (
	TransferRequested        = activities.TransferRequested
	TransferAwaitingApproval = activities.TransferAwaitingApproval
	TransferApproved         = activities.TransferApproved
	TransferInTransit        = activities.TransferInTransit
	TransferReceived         = activities.TransferReceived
	TransferRejected         = activities.TransferRejected
	TransferExpired          = activities.TransferExpired
	TransferCancelled        = activities.TransferCancelled
	TransferFailed           = activities.TransferFailed
)

// Update and query names of the Transfer workflow.
const (
	// TransferDecideUpdate approves (possibly less than requested) or rejects.
	TransferDecideUpdate = "decide"
	// TransferReceiveUpdate reports what arrived at the destination.
	TransferReceiveUpdate = "receive"
	// TransferCancelUpdate withdraws a transfer that is not dispatched yet.
	TransferCancelUpdate = "cancel"
	// TransferStateQuery returns the workflow's TransferState.
	TransferStateQuery = "state"
)

// transferReceiptDeadlineChange is the GetVersion change ID of the receipt
// deadline: from version 1, a transfer in transit reminds the destination
// and escalates the receipt to hq_sales (TransferTimeouts.ReceiptRemindAfter
// and ReceiptEscalateAfter); before it (workflow.DefaultVersion, the
// recorded histories of earlier transfers) the receipt was awaited without
// deadlines.
const transferReceiptDeadlineChange = "transfer-receipt-deadline"

// TransferFieldError names a field of a refused update's request and what is
// wrong with it, in the API's terms ("lines[1].approved_qty"). A refusal of
// type ErrTypeInvalid carries a []TransferFieldError as its details;
// ErrTypeForbidden and ErrTypeConflict refusals carry none.
type TransferFieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// TransferID is the workflow ID of the transfer with business key key.
func TransferID(key string) string { return workflowID("transfer", key) }

// TransferTimeouts are a transfer's deadlines. The approval deadlines are
// counted from the reservation: the approver is reminded after RemindAfter,
// the decision is escalated to hq_sales after EscalateAfter, and the request
// expires after ExpireAfter. The receipt deadlines are counted from the
// dispatch: the destination is reminded after ReceiptRemindAfter and the
// receipt is escalated to hq_sales after ReceiptEscalateAfter (hq_admin and
// hq_sales may then record it on the destination's behalf); the transfer
// never expires in transit, the units being on the road.
type TransferTimeouts struct {
	RemindAfter   time.Duration `json:"remind_after"`
	EscalateAfter time.Duration `json:"escalate_after"`
	ExpireAfter   time.Duration `json:"expire_after"`
	// Zero means the default (48 h, 96 h), as in the inputs of workflows
	// started before the receipt deadlines existed.
	ReceiptRemindAfter   time.Duration `json:"receipt_remind_after,omitempty"`
	ReceiptEscalateAfter time.Duration `json:"receipt_escalate_after,omitempty"`
}

// Default receipt deadlines, counted from the dispatch.
const (
	DefaultReceiptRemindAfter   = 48 * time.Hour
	DefaultReceiptEscalateAfter = 96 * time.Hour
)

// DefaultTransferTimeouts are 12 h, 24 h and 48 h for the approval, 48 h and
// 96 h for the receipt.
func DefaultTransferTimeouts() TransferTimeouts {
	return TransferTimeouts{
		RemindAfter: 12 * time.Hour, EscalateAfter: 24 * time.Hour, ExpireAfter: 48 * time.Hour,
		ReceiptRemindAfter: DefaultReceiptRemindAfter, ReceiptEscalateAfter: DefaultReceiptEscalateAfter,
	}
}

// WithReceiptDefaults returns t with each zero receipt deadline set to its
// default.
func (t TransferTimeouts) WithReceiptDefaults() TransferTimeouts {
	if t.ReceiptRemindAfter == 0 {
		t.ReceiptRemindAfter = DefaultReceiptRemindAfter
	}
	if t.ReceiptEscalateAfter == 0 {
		t.ReceiptEscalateAfter = DefaultReceiptEscalateAfter
	}
	return t
}

// Validate checks 0 < RemindAfter < EscalateAfter < ExpireAfter and, zero
// receipt deadlines taken as their defaults, 0 < ReceiptRemindAfter <
// ReceiptEscalateAfter.
func (t TransferTimeouts) Validate() error {
	if t.RemindAfter <= 0 || t.EscalateAfter <= t.RemindAfter || t.ExpireAfter <= t.EscalateAfter {
		return fmt.Errorf("transfer timeouts: want 0 < remind (%s) < escalate (%s) < expire (%s)", t.RemindAfter, t.EscalateAfter, t.ExpireAfter)
	}
	r := t.WithReceiptDefaults()
	if t.ReceiptRemindAfter < 0 || t.ReceiptEscalateAfter < 0 || r.ReceiptEscalateAfter <= r.ReceiptRemindAfter {
		return fmt.Errorf("transfer timeouts: want 0 < receipt remind (%s) < receipt escalate (%s)", t.ReceiptRemindAfter, t.ReceiptEscalateAfter)
	}
	return nil
}

// TransferInput starts a Transfer workflow.
type TransferInput struct {
	Key         string `json:"key"`
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// SourceAgent owns the source and approves; empty when HQ owns it
	// (hq_sales approves).
	SourceAgent string `json:"source_agent,omitempty"`
	// DestinationAgent owns the destination and receives; empty for HQ.
	DestinationAgent string                    `json:"destination_agent,omitempty"`
	Lines            []activities.TransferLine `json:"lines"`
	Timeouts         TransferTimeouts          `json:"timeouts"`
}

// TransferDecision is the decide update's argument: approve (Lines gives the
// approved quantity per SKU, any SKU left out is approved in full) or reject
// with a Reason.
type TransferDecision struct {
	Approve bool                      `json:"approve"`
	Lines   []activities.TransferLine `json:"lines,omitempty"`
	// Reason is required to reject; a note when approving.
	Reason         string           `json:"reason,omitempty"`
	By             activities.Actor `json:"by"`
	IdempotencyKey string           `json:"idempotency_key,omitempty"`
}

// TransferReceipt is the receive update's argument: the received quantity of
// every dispatched SKU, with a reason for each short line.
type TransferReceipt struct {
	Lines          []ReceiptLine    `json:"lines"`
	By             activities.Actor `json:"by"`
	IdempotencyKey string           `json:"idempotency_key,omitempty"`
}

// ReceiptLine is the received quantity of one SKU.
type ReceiptLine struct {
	SKU      string `json:"sku"`
	Received int64  `json:"received"`
	Reason   string `json:"reason,omitempty"`
}

// TransferCancel is the cancel update's argument.
type TransferCancel struct {
	Reason         string           `json:"reason"`
	By             activities.Actor `json:"by"`
	IdempotencyKey string           `json:"idempotency_key,omitempty"`
}

// TransferOutcome is what an update led to.
type TransferOutcome struct {
	Status  string `json:"status"`
	Failure string `json:"failure,omitempty"`
}

// TransferState is the workflow's view of the transfer (the state query).
type TransferState struct {
	Status    string `json:"status"`
	Escalated bool   `json:"escalated"`
	// ReceiptEscalated: the receipt is overdue and escalated to hq_sales.
	ReceiptEscalated bool                      `json:"receipt_escalated"`
	Reserved         []activities.TransferLine `json:"reserved"`
	Dispatched       []activities.TransferLine `json:"dispatched"`
	Failure          string                    `json:"failure,omitempty"`
}

// TransferResult is how a transfer ended.
type TransferResult struct {
	Status  string `json:"status"`
	Failure string `json:"failure,omitempty"`
}

// transfer is one run of the Transfer workflow.
type transfer struct {
	in        TransferInput
	status    string
	escalated bool
	failure   string
	// receiptEscalated: HQ may record the receipt on the destination's
	// behalf.
	receiptEscalated bool
	ending           string                    // the status the transfer is ending with, while it compensates
	reserved         []activities.TransferLine // held at the source by this transfer
	dispatched       []activities.TransferLine // on the road

	decision      *TransferDecision
	cancel        *TransferCancel
	receipt       *TransferReceipt
	receiptErr    error
	receiptDone   bool
	closed        bool
	compensations []transferCompensation
}

// transferCompensation undoes one completed step.
type transferCompensation struct {
	name string
	fn   func(ctx workflow.Context) error
}

// Transfer is the cross-channel stock transfer saga:
//
//  1. reserve the requested units at the source (refused: failed);
//  2. wait for the source owner's decision (the decide update), reminding at
//     RemindAfter, escalating to hq_sales at EscalateAfter, expiring at
//     ExpireAfter; the requester may cancel meanwhile;
//  3. on approval, release what was not approved and dispatch the rest: the
//     source's on hand and reservation drop, the destination's in transit rises;
//  4. wait for the receipt at the destination (the receive update): received
//     units arrive, a shortfall is written off as a discrepancy. Counted
//     from the dispatch, the destination is reminded at ReceiptRemindAfter
//     and the receipt is escalated to hq_sales at ReceiptEscalateAfter (HQ
//     may then record it on the destination's behalf); the wait then goes
//     on, since goods on the road are never received or cancelled
//     automatically.
//
// Reject, expiry, cancel or a failing step before dispatch run the
// compensations of the steps done so far, in reverse order, on a
// disconnected context (so a cancelled workflow still cleans up). Dispatch is
// the point of no return: afterwards the units are accounted for by the
// receipt only.
func Transfer(ctx workflow.Context, in TransferInput) (TransferResult, error) {
	t := &transfer{in: in, status: TransferRequested}
	if err := t.setup(ctx); err != nil {
		return TransferResult{}, err
	}
	res, err := t.run(ctx)
	t.closed = true
	// Let update handlers that are still waiting see the end and answer,
	// even when the workflow was cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if werr := workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(dctx) }); werr != nil && err == nil {
		err = fmt.Errorf("transfer %s: await handlers: %w", in.Key, werr)
	}
	return res, err
}

func (t *transfer) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, TransferStateQuery, func() (TransferState, error) {
		return TransferState{
			Status: t.status, Escalated: t.escalated, ReceiptEscalated: t.receiptEscalated,
			Reserved: t.reserved, Dispatched: t.dispatched, Failure: t.failure,
		}, nil
	}); err != nil {
		return fmt.Errorf("transfer: query handler: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, TransferDecideUpdate, t.decide, workflow.UpdateHandlerOptions{
		Validator: t.validateDecision, Description: "approve (optionally less than requested) or reject the transfer",
	}); err != nil {
		return fmt.Errorf("transfer: decide handler: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, TransferReceiveUpdate, t.receive, workflow.UpdateHandlerOptions{
		Validator: t.validateReceipt, Description: "report the received quantity of every dispatched SKU",
	}); err != nil {
		return fmt.Errorf("transfer: receive handler: %w", err)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, TransferCancelUpdate, t.cancelUpdate, workflow.UpdateHandlerOptions{
		Validator: t.validateCancel, Description: "withdraw the transfer before it is approved and dispatched",
	}); err != nil {
		return fmt.Errorf("transfer: cancel handler: %w", err)
	}
	return nil
}

func (t *transfer) run(ctx workflow.Context) (TransferResult, error) {
	logger := workflow.GetLogger(ctx)
	var a *activities.Transfers
	// Steps run on a context the workflow's cancellation does not reach: a
	// step that posts to the ledger always runs to its end, so what the
	// transfer holds is always known when it compensates. Cancellation is
	// checked between steps.
	sctx, _ := workflow.NewDisconnectedContext(ctx)
	sctx = workflow.WithActivityOptions(sctx, transferActivityOptions())
	cancelled := func() (TransferResult, error) {
		return t.fail(ctx, TransferCancelled, "the workflow was cancelled", activities.SystemActor, "")
	}

	// 1. Reserve at the source.
	err := workflow.ExecuteActivity(sctx, a.TransferReserve, activities.TransferReserveInput{
		Key: t.in.Key, Source: t.in.Source, Lines: t.in.Lines,
	}).Get(sctx, nil)
	if err != nil {
		return t.fail(ctx, TransferFailed, "reserve: "+failureCause(err), activities.SystemActor, "")
	}
	t.reserved = t.in.Lines
	t.push("release reservation", t.releaseReserved)
	if ctx.Err() != nil {
		return cancelled()
	}
	if err := t.setStatus(ctx, TransferAwaitingApproval); err != nil {
		return TransferResult{}, err
	}

	// 2. Wait for the decision, with reminder, escalation and expiry.
	decided := func() bool { return t.decision != nil || t.cancel != nil }
	start := workflow.Now(ctx)
	stages := []struct {
		name  string
		after time.Duration
		fn    any
	}{
		{"reminder", t.in.Timeouts.RemindAfter, a.TransferRemind},
		{"escalation", t.in.Timeouts.EscalateAfter, a.TransferEscalate},
		{"expiry", t.in.Timeouts.ExpireAfter, nil},
	}
	expired := false
	for _, st := range stages {
		wait := start.Add(st.after).Sub(workflow.Now(ctx))
		if wait > 0 {
			ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
				Timeout: wait, TimerOptions: workflow.TimerOptions{Summary: st.name},
			}, decided)
			if err != nil { // the workflow was cancelled
				return cancelled()
			}
			if ok {
				break
			}
		} else if decided() {
			break
		}
		if st.fn == nil {
			expired = true
			break
		}
		if st.name == "escalation" {
			// hq_sales may decide as soon as the API says so, which is
			// when the activity commits.
			t.escalated = true
		}
		if err := workflow.ExecuteActivity(sctx, st.fn, t.in.Key).Get(sctx, nil); err != nil {
			return t.fail(ctx, TransferFailed, st.name+": "+failureCause(err), activities.SystemActor, "")
		}
		if ctx.Err() != nil {
			return cancelled()
		}
	}
	switch {
	case expired && !decided():
		return t.fail(ctx, TransferExpired, fmt.Sprintf("no decision within %s", t.in.Timeouts.ExpireAfter), activities.SystemActor, "")
	case t.cancel != nil:
		return t.fail(ctx, TransferCancelled, t.cancel.Reason, t.cancel.By, t.cancel.IdempotencyKey)
	case !t.decision.Approve:
		return t.fail(ctx, TransferRejected, t.decision.Reason, t.decision.By, t.decision.IdempotencyKey)
	}

	// 3. Approve (release what was not approved), then dispatch.
	if ctx.Err() != nil {
		return cancelled()
	}
	approved := t.approvedLines()
	if err := t.setStatus(sctx, TransferApproved); err != nil {
		return TransferResult{}, err
	}
	err = workflow.ExecuteActivity(sctx, a.TransferApprove, activities.TransferApproveInput{
		Key: t.in.Key, Source: t.in.Source, Actor: t.decision.By, Requested: t.in.Lines, Approved: approved,
		Note: t.decision.Reason, IdempotencyKey: t.decision.IdempotencyKey,
	}).Get(sctx, nil)
	if err != nil {
		return t.fail(ctx, TransferFailed, "approve: "+failureCause(err), activities.SystemActor, "")
	}
	t.reserved = positiveLines(approved)
	if ctx.Err() != nil {
		return cancelled()
	}
	err = workflow.ExecuteActivity(sctx, a.TransferDispatch, activities.TransferDispatchInput{
		Key: t.in.Key, Source: t.in.Source, Destination: t.in.Destination, Lines: t.reserved,
	}).Get(sctx, nil)
	if err != nil {
		return t.fail(ctx, TransferFailed, "dispatch: "+failureCause(err), activities.SystemActor, "")
	}
	// The reservation became the dispatch: nothing is left to release.
	t.dispatched, t.reserved, t.compensations = t.reserved, nil, nil
	if err := t.setStatus(sctx, TransferInTransit); err != nil {
		return TransferResult{}, err
	}

	// 4. Wait for the receipt. The units are on the road: a cancellation
	// request cannot undo that, so the wait ignores it. The receipt
	// deadlines (since version 1 of transferReceiptDeadlineChange) chase the
	// destination, then HQ, and undo nothing.
	var deadlines []transferDeadline
	if workflow.GetVersion(ctx, transferReceiptDeadlineChange, workflow.DefaultVersion, 1) >= 1 {
		tt := t.in.Timeouts.WithReceiptDefaults()
		deadlines = []transferDeadline{
			{"receipt reminder", tt.ReceiptRemindAfter, a.TransferReceiptRemind},
			{"receipt escalation", tt.ReceiptEscalateAfter, a.TransferReceiptEscalate},
		}
	}
	dispatchedAt := workflow.Now(ctx)
	received := func() bool { return t.receipt != nil }
	for {
		// The deadlines still due fire in order while nothing is being
		// received; a receipt refused later finds the ones left.
		for len(deadlines) > 0 && !received() {
			st := deadlines[0]
			if wait := dispatchedAt.Add(st.after).Sub(workflow.Now(ctx)); wait > 0 {
				ok, err := workflow.AwaitWithOptions(sctx, workflow.AwaitOptions{
					Timeout: wait, TimerOptions: workflow.TimerOptions{Summary: st.name},
				}, received)
				if err != nil {
					return TransferResult{}, fmt.Errorf("transfer %s: await receipt: %w", t.in.Key, err)
				}
				if ok {
					break
				}
			}
			deadlines = deadlines[1:]
			if st.name == "receipt escalation" {
				// HQ may receive as soon as the API says so, which is when
				// the activity commits.
				t.receiptEscalated = true
			}
			if err := workflow.ExecuteActivity(sctx, st.fn, t.in.Key).Get(sctx, nil); err != nil {
				// Refused for good (the read model disagrees): the units are
				// still on the road, so the receipt is still awaited.
				logger.Error(st.name+" refused", "key", t.in.Key, "error", err)
			}
		}
		if err := workflow.Await(sctx, received); err != nil {
			return TransferResult{}, fmt.Errorf("transfer %s: await receipt: %w", t.in.Key, err)
		}
		if ctx.Err() != nil {
			logger.Warn("cancellation requested after dispatch: waiting for the receipt regardless", "key", t.in.Key)
		}
		err := workflow.ExecuteActivity(sctx, a.TransferReceive, activities.TransferReceiveInput{
			Key: t.in.Key, Destination: t.in.Destination, Actor: t.receipt.By, Lines: t.receivedLines(),
			OnBehalfOf: t.onBehalfOf(t.receipt.By), IdempotencyKey: t.receipt.IdempotencyKey,
		}).Get(sctx, nil)
		if err != nil {
			// Refused for good: answer the update with the error and wait
			// for a corrected receipt.
			logger.Error("receipt refused", "key", t.in.Key, "error", err)
			t.receiptErr, t.receipt, t.receiptDone = err, nil, true
			continue
		}
		t.receiptDone = true
		break
	}
	if err := t.setStatus(sctx, TransferReceived); err != nil {
		return TransferResult{}, err
	}
	return TransferResult{Status: TransferReceived}, nil
}

// transferDeadline is one receipt deadline: its timer's name, when it falls
// due after the dispatch and the activity that records it.
type transferDeadline struct {
	name  string
	after time.Duration
	fn    any
}

func transferActivityOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		},
	}
}

// push records the compensation of a step that completed.
func (t *transfer) push(name string, fn func(ctx workflow.Context) error) {
	t.compensations = append(t.compensations, transferCompensation{name: name, fn: fn})
}

// releaseReserved is the compensation of the reservation: it releases what
// the transfer holds when it runs (all requested units, or the approved ones
// once the rest was released).
func (t *transfer) releaseReserved(ctx workflow.Context) error {
	if len(t.reserved) == 0 {
		return nil
	}
	var a *activities.Transfers
	err := workflow.ExecuteActivity(ctx, a.TransferRelease, activities.TransferReleaseInput{
		Key: t.in.Key, Source: t.in.Source, Lines: t.reserved, Why: t.ending,
	}).Get(ctx, nil)
	if err != nil {
		return err
	}
	t.reserved = nil
	return nil
}

// fail ends the transfer as status (rejected, expired, cancelled or failed):
// it runs the compensations in reverse order on a context that survives the
// workflow's cancellation, then records the end.
func (t *transfer) fail(ctx workflow.Context, status, reason string, by activities.Actor, idempotencyKey string) (TransferResult, error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	dctx = workflow.WithActivityOptions(dctx, transferActivityOptions())
	t.ending = status // why the compensations run
	var errs []error
	for i := len(t.compensations) - 1; i >= 0; i-- {
		c := t.compensations[i]
		if err := c.fn(dctx); err != nil {
			errs = append(errs, fmt.Errorf("compensate %s: %w", c.name, err))
		}
	}
	t.compensations = nil
	if len(errs) > 0 {
		// A compensation refused for good: the transfer failed, and ops
		// must look (the workflow fails too).
		status, reason = TransferFailed, errors.Join(errs...).Error()
		by, idempotencyKey = activities.SystemActor, ""
	}
	var a *activities.Transfers
	err := workflow.ExecuteActivity(dctx, a.TransferClose, activities.TransferCloseInput{
		Key: t.in.Key, Status: status, Reason: reason, Actor: by, IdempotencyKey: idempotencyKey,
	}).Get(dctx, nil)
	if err != nil {
		errs = append(errs, fmt.Errorf("close as %s: %w", status, err))
	}
	t.failure = reason
	if err := t.setStatus(dctx, status); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return TransferResult{Status: status, Failure: reason}, fmt.Errorf("transfer %s: %w", t.in.Key, errors.Join(errs...))
	}
	return TransferResult{Status: status, Failure: reason}, nil
}

func (t *transfer) setStatus(ctx workflow.Context, status string) error {
	t.status = status
	if err := setStatus(ctx, status); err != nil {
		return fmt.Errorf("transfer %s: search attributes: %w", t.in.Key, err)
	}
	return nil
}

// approvedLines returns one line per requested SKU with the approved
// quantity: the decision's where given, the requested one otherwise.
func (t *transfer) approvedLines() []activities.TransferLine {
	out := make([]activities.TransferLine, len(t.in.Lines))
	for i, l := range t.in.Lines {
		out[i] = l
		for _, d := range t.decision.Lines {
			if d.SKU == l.SKU {
				out[i].Qty = d.Qty
			}
		}
	}
	return out
}

// receivedLines joins the receipt to what was dispatched.
func (t *transfer) receivedLines() []activities.ReceivedLine {
	out := make([]activities.ReceivedLine, 0, len(t.dispatched))
	for _, d := range t.dispatched {
		for _, r := range t.receipt.Lines {
			if r.SKU == d.SKU {
				out = append(out, activities.ReceivedLine{SKU: d.SKU, Dispatched: d.Qty, Received: r.Received, Reason: r.Reason})
			}
		}
	}
	return out
}

func positiveLines(lines []activities.TransferLine) []activities.TransferLine {
	var out []activities.TransferLine
	for _, l := range lines {
		if l.Qty > 0 {
			out = append(out, l)
		}
	}
	return out
}

// cause is the message of an activity failure, without the SDK's wrapping.
func failureCause(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Error()
	}
	return err.Error()
}

// ---- updates ----

func transferRefuse(kind, msg string, fields ...TransferFieldError) error {
	if len(fields) > 0 {
		return temporal.NewApplicationError(msg, kind, fields)
	}
	return temporal.NewApplicationError(msg, kind)
}

func transferInvalid(fields ...TransferFieldError) error {
	return transferRefuse(ErrTypeInvalid, "invalid request", fields...)
}

// mayDecide says whether by may decide: the agent owning the source, or
// hq_sales when HQ owns the source or the decision was escalated.
func (t *transfer) mayDecide(by activities.Actor) bool {
	if t.in.SourceAgent != "" && by.Role == "agent" && by.Agent == t.in.SourceAgent {
		return true
	}
	return by.Role == "hq_sales" && (t.in.SourceAgent == "" || t.escalated)
}

func (t *transfer) validateDecision(d TransferDecision) error {
	if !t.mayDecide(d.By) {
		who := "hq_sales"
		if t.in.SourceAgent != "" {
			who = "agent " + t.in.SourceAgent + " (hq_sales once escalated)"
		}
		return transferRefuse(ErrTypeForbidden, "only "+who+" may decide on this transfer")
	}
	switch {
	case t.decision != nil:
		return transferRefuse(ErrTypeConflict, "the transfer was already decided")
	case t.cancel != nil || t.closed || t.ending != "" || (t.status != TransferAwaitingApproval && t.status != TransferRequested):
		return transferRefuse(ErrTypeConflict, "the transfer is "+t.status+": no decision is possible")
	}
	var errs []TransferFieldError
	if !d.Approve {
		if d.Reason == "" {
			errs = append(errs, TransferFieldError{"reason", "is required to reject"})
		}
		if len(d.Lines) > 0 {
			errs = append(errs, TransferFieldError{"lines", "only when approving"})
		}
	}
	var total int64
	counted := map[string]bool{}
	for i, l := range d.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		req := requestedQty(t.in.Lines, l.SKU)
		switch {
		case req < 0:
			errs = append(errs, TransferFieldError{f + ".sku", "is not a line of this transfer"})
		case counted[l.SKU]:
			errs = append(errs, TransferFieldError{f + ".sku", "appears twice"})
		case l.Qty < 0:
			errs = append(errs, TransferFieldError{f + ".approved_qty", "must not be negative"})
		case l.Qty > req:
			errs = append(errs, TransferFieldError{f + ".approved_qty", fmt.Sprintf("must be at most the %d requested", req)})
		}
		counted[l.SKU] = true
	}
	if d.Approve && len(errs) == 0 {
		for _, l := range t.in.Lines {
			q := l.Qty
			for _, dl := range d.Lines {
				if dl.SKU == l.SKU {
					q = dl.Qty
				}
			}
			total += q
		}
		if total == 0 {
			errs = append(errs, TransferFieldError{"lines", "approve at least one unit, or reject"})
		}
	}
	if len(errs) > 0 {
		return transferInvalid(errs...)
	}
	return nil
}

func requestedQty(lines []activities.TransferLine, sku string) int64 {
	for _, l := range lines {
		if l.SKU == sku {
			return l.Qty
		}
	}
	return -1
}

// decide records the decision; the main loop acts on it. The update answers
// once the transfer is dispatched (or has failed) or closed.
func (t *transfer) decide(ctx workflow.Context, d TransferDecision) (TransferOutcome, error) {
	t.decision = &d
	if err := transferAwaitOutcome(ctx, func() bool { return t.closed || t.status == TransferInTransit || transferFinal(t.status) }); err != nil {
		return TransferOutcome{}, err
	}
	return TransferOutcome{Status: t.status, Failure: t.failure}, nil
}

// mayReceive says whether by may report the receipt: the agent owning the
// destination, or hq_admin / hq_sales for HQ's — and for an agent's once the
// receipt is escalated, on the agent's behalf.
func (t *transfer) mayReceive(by activities.Actor) bool {
	hq := by.Role == "hq_admin" || by.Role == "hq_sales"
	if t.in.DestinationAgent != "" {
		return (by.Role == "agent" && by.Agent == t.in.DestinationAgent) || (hq && t.receiptEscalated)
	}
	return hq
}

// onBehalfOf is the agent owning the destination when by reports the
// receipt in its stead (HQ, once escalated); empty otherwise.
func (t *transfer) onBehalfOf(by activities.Actor) string {
	if t.in.DestinationAgent != "" && !(by.Role == "agent" && by.Agent == t.in.DestinationAgent) {
		return t.in.DestinationAgent
	}
	return ""
}

func (t *transfer) validateReceipt(r TransferReceipt) error {
	if !t.mayReceive(r.By) {
		if t.in.DestinationAgent != "" {
			return transferRefuse(ErrTypeForbidden, "only agent "+t.in.DestinationAgent+" may report the receipt (hq_admin or hq_sales once escalated)")
		}
		return transferRefuse(ErrTypeForbidden, "only the destination's owner may report the receipt")
	}
	switch {
	case t.status != TransferInTransit || t.closed:
		return transferRefuse(ErrTypeConflict, "the transfer is "+t.status+": there is nothing on the road to receive")
	case t.receipt != nil:
		return transferRefuse(ErrTypeConflict, "a receipt is being booked")
	}
	var errs []TransferFieldError
	seen := map[string]bool{}
	for i, l := range r.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		sent := requestedQty(t.dispatched, l.SKU)
		switch {
		case sent < 0:
			errs = append(errs, TransferFieldError{f + ".sku", "was not dispatched in this transfer"})
		case seen[l.SKU]:
			errs = append(errs, TransferFieldError{f + ".sku", "appears twice"})
		case l.Received < 0:
			errs = append(errs, TransferFieldError{f + ".received_qty", "must not be negative"})
		case l.Received > sent:
			errs = append(errs, TransferFieldError{f + ".received_qty", fmt.Sprintf("is more than the %d dispatched: an overage is refused", sent)})
		case l.Received < sent && l.Reason == "":
			errs = append(errs, TransferFieldError{f + ".reason", fmt.Sprintf("is required: %d of %d dispatched are missing", sent-l.Received, sent)})
		case l.Received == sent && l.Reason != "":
			errs = append(errs, TransferFieldError{f + ".reason", "only for a shortfall"})
		}
		seen[l.SKU] = true
	}
	for _, d := range t.dispatched {
		if !seen[d.SKU] {
			errs = append(errs, TransferFieldError{"lines", "the receipt must cover every dispatched SKU: " + d.SKU + " is missing"})
		}
	}
	if len(errs) > 0 {
		return transferInvalid(errs...)
	}
	return nil
}

// receive hands the receipt to the main loop and answers with its booking.
func (t *transfer) receive(ctx workflow.Context, r TransferReceipt) (TransferOutcome, error) {
	t.receipt, t.receiptErr, t.receiptDone = &r, nil, false
	if err := transferAwaitOutcome(ctx, func() bool { return t.receiptDone || t.closed }); err != nil {
		return TransferOutcome{}, err
	}
	if t.receiptErr != nil {
		return TransferOutcome{}, transferRefuse(ErrTypeConflict, "the receipt was refused: "+failureCause(t.receiptErr))
	}
	return TransferOutcome{Status: t.status, Failure: t.failure}, nil
}

// mayCancel says whether by may cancel: hq_sales, or the agent owning the
// destination (the requesting side).
func (t *transfer) mayCancel(by activities.Actor) bool {
	return by.Role == "hq_sales" || (t.in.DestinationAgent != "" && by.Role == "agent" && by.Agent == t.in.DestinationAgent)
}

func (t *transfer) validateCancel(c TransferCancel) error {
	if !t.mayCancel(c.By) {
		return transferRefuse(ErrTypeForbidden, "only hq_sales or the requesting agent may cancel this transfer")
	}
	switch {
	case t.cancel != nil:
		return transferRefuse(ErrTypeConflict, "the transfer is being cancelled")
	case t.decision != nil && t.decision.Approve:
		return transferRefuse(ErrTypeConflict, "the transfer is approved and dispatched (or being dispatched): it can no longer be cancelled")
	case t.decision != nil || t.closed || t.ending != "" || transferFinal(t.status) || t.status == TransferInTransit:
		return transferRefuse(ErrTypeConflict, "the transfer is "+t.status+": it can no longer be cancelled")
	case c.Reason == "":
		return transferInvalid(TransferFieldError{"reason", "is required"})
	}
	return nil
}

// cancelUpdate records the cancellation; the main loop compensates and
// closes, then the update answers.
func (t *transfer) cancelUpdate(ctx workflow.Context, c TransferCancel) (TransferOutcome, error) {
	t.cancel = &c
	if err := transferAwaitOutcome(ctx, func() bool { return t.closed || transferFinal(t.status) }); err != nil {
		return TransferOutcome{}, err
	}
	return TransferOutcome{Status: t.status, Failure: t.failure}, nil
}

// transferAwaitOutcome waits, in an update handler, until the main loop has acted
// on the update. The main loop always finishes what it started, even when
// the workflow is cancelled, so the wait ignores cancellation too: the
// caller learns the outcome rather than a cancellation.
func transferAwaitOutcome(ctx workflow.Context, done func() bool) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	return workflow.Await(dctx, done)
}

func transferFinal(status string) bool {
	switch status {
	case TransferReceived, TransferRejected, TransferExpired, TransferCancelled, TransferFailed:
		return true
	}
	return false
}
