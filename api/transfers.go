package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/activities"
	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/workflows"
)

// Cross-channel stock transfers (跨渠道调拨): one channel borrows stock held
// by another. A request reserves the units at the source at once; the
// source's owner (its agent, or hq_sales for HQ's warehouses, and hq_sales
// too once escalated) approves — possibly less — or rejects; approval
// dispatches the units (in transit, sellable nowhere); the destination's
// owner reports what arrived. Each transfer is a Transfer workflow; the
// handlers check role and scope, then start it or send it an update, and read
// the transfers tables, which the workflow's activities keep in step with the
// ledger.
func (s *server) transferRoutes(g *echo.Group) {
	g.POST("/transfers", s.requestTransfer)
	g.GET("/transfers", s.listTransfers)
	g.GET("/transfers/:key", s.getTransfer)
	g.POST("/transfers/:key/decision", s.decideTransfer)
	g.POST("/transfers/:key/receipt", s.receiveTransfer)
	g.POST("/transfers/:key/cancel", s.cancelTransfer)
}

// transferTimeouts returns the deadlines new transfers get: t, or the
// defaults (12 h / 24 h / 48 h for the approval) when t is zero; zero
// receipt deadlines are the defaults (48 h / 96 h).
func transferTimeouts(t workflows.TransferTimeouts) (workflows.TransferTimeouts, error) {
	if t == (workflows.TransferTimeouts{}) {
		return workflows.DefaultTransferTimeouts(), nil
	}
	return t.WithReceiptDefaults(), t.Validate()
}

// Bounds of a receipt deadline given in a request.
const (
	minReceiptDeadline = time.Minute
	maxReceiptDeadline = 90 * 24 * time.Hour
)

// transferSeconds is d in whole seconds, rounded up (so a positive d stays
// positive), as the transfers table stores the receipt deadlines.
func transferSeconds(d time.Duration) int32 {
	return int32((d + time.Second - 1) / time.Second)
}

// transferReaders may read transfers: HQ-side roles all, an agent those out
// of or into its warehouses.
var transferReaders = []auth.Role{auth.RoleHQAdmin, auth.RoleHQSales, auth.RoleFinance, auth.RoleOps, auth.RoleAgent}

var transferStatuses = []string{
	workflows.TransferRequested, workflows.TransferAwaitingApproval, workflows.TransferApproved,
	workflows.TransferInTransit, workflows.TransferReceived, workflows.TransferRejected,
	workflows.TransferExpired, workflows.TransferCancelled, workflows.TransferFailed,
}

const (
	maxTransferLines = 100
	maxTransferQty   = 10_000_000
)

// TransferSummary is a transfer without its lines and timeline, as lists
// return it.
type TransferSummary struct {
	Key              string  `json:"key"`
	WorkflowID       string  `json:"workflow_id"`
	Source           string  `json:"source"`
	Destination      string  `json:"destination"`
	SourceAgent      *string `json:"source_agent"`
	DestinationAgent *string `json:"destination_agent"`
	Region           string  `json:"region"`
	// Approver is who decides: "agent:<code>" or "hq_sales" (and, once
	// Escalated, hq_sales as well as the agent).
	Approver     string     `json:"approver"`
	Escalated    bool       `json:"escalated"`
	Reason       string     `json:"reason"`
	WantedBy     string     `json:"wanted_by"`
	Status       string     `json:"status"`
	Failure      string     `json:"failure,omitempty"`
	DecidedBy    string     `json:"decided_by,omitempty"`
	DecisionNote string     `json:"decision_note,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	RemindedAt   *time.Time `json:"reminded_at"`
	EscalatedAt  *time.Time `json:"escalated_at"`
	DecidedAt    *time.Time `json:"decided_at"`
	DispatchedAt *time.Time `json:"dispatched_at"`
	ReceivedAt   *time.Time `json:"received_at"`
	ClosedAt     *time.Time `json:"closed_at"`
	// The receipt deadlines after the dispatch, as Go durations ("48h0m0s";
	// null for transfers requested before they existed), when the
	// destination was reminded, and when the receipt was escalated to
	// hq_sales (ReceiptEscalated: hq_admin and hq_sales may now report it on
	// the destination's behalf).
	ReceiptRemindAfter   *string    `json:"receipt_remind_after"`
	ReceiptEscalateAfter *string    `json:"receipt_escalate_after"`
	ReceiptRemindedAt    *time.Time `json:"receipt_reminded_at"`
	ReceiptEscalatedAt   *time.Time `json:"receipt_escalated_at"`
	ReceiptEscalated     bool       `json:"receipt_escalated"`
}

// TransferListItem is one transfer of a list.
type TransferListItem struct {
	TransferSummary
	LineCount      int64 `json:"line_count"`
	RequestedUnits int64 `json:"requested_units"`
}

// Transfer is a transfer with its lines and its timeline.
type Transfer struct {
	TransferSummary
	Lines    []TransferLine  `json:"lines"`
	Timeline []TransferEvent `json:"timeline"`
}

// TransferLine is one SKU of a transfer and what became of it at each step
// (null: the step has not happened).
type TransferLine struct {
	SKU               string `json:"sku"`
	RequestedQty      int64  `json:"requested_qty"`
	ApprovedQty       *int64 `json:"approved_qty"`
	DispatchedQty     *int64 `json:"dispatched_qty"`
	ReceivedQty       *int64 `json:"received_qty"`
	ShortfallQty      *int64 `json:"shortfall_qty"`
	DiscrepancyReason string `json:"discrepancy_reason,omitempty"`
}

// TransferEvent is one step of a transfer's timeline.
type TransferEvent struct {
	At        time.Time       `json:"at"`
	Kind      string          `json:"kind"`
	Actor     string          `json:"actor"`
	ActorName string          `json:"actor_name,omitempty"`
	Detail    json.RawMessage `json:"detail"`
}

func transferSummaryOf(t dbgen.Transfer) TransferSummary {
	approver := "hq_sales"
	if t.SourceAgentCode != nil {
		approver = "agent:" + *t.SourceAgentCode
	}
	duration := func(s *int32) *string {
		if s == nil {
			return nil
		}
		d := (time.Duration(*s) * time.Second).String()
		return &d
	}
	return TransferSummary{
		Key: t.Key, WorkflowID: workflows.TransferID(t.Key), Source: t.SourceCode, Destination: t.DestinationCode,
		SourceAgent: t.SourceAgentCode, DestinationAgent: t.DestinationAgentCode, Region: t.Region,
		Approver: approver, Escalated: t.EscalatedAt != nil, ReceiptEscalated: t.ReceiptEscalatedAt != nil,
		ReceiptRemindAfter: duration(t.ReceiptRemindAfterS), ReceiptEscalateAfter: duration(t.ReceiptEscalateAfterS),
		Reason: t.Reason, WantedBy: t.WantedBy.Format(time.DateOnly),
		Status: t.Status, Failure: t.Failure, DecidedBy: t.DecidedBy, DecisionNote: t.DecisionNote,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, RemindedAt: t.RemindedAt, EscalatedAt: t.EscalatedAt,
		DecidedAt: t.DecidedAt, DispatchedAt: t.DispatchedAt, ReceiptRemindedAt: t.ReceiptRemindedAt,
		ReceiptEscalatedAt: t.ReceiptEscalatedAt, ReceivedAt: t.ReceivedAt, ClosedAt: t.ClosedAt,
	}
}

// transferDetail loads a transfer's lines and timeline.
func (s *server) transferDetail(ctx context.Context, q *dbgen.Queries, t dbgen.Transfer) (Transfer, error) {
	out := Transfer{TransferSummary: transferSummaryOf(t)}
	lines, err := q.ListTransferLines(ctx, t.Key)
	if err != nil {
		return out, fmt.Errorf("transfer %s lines: %w", t.Key, err)
	}
	out.Lines = make([]TransferLine, len(lines))
	for i, l := range lines {
		out.Lines[i] = TransferLine{
			SKU: l.Sku, RequestedQty: l.RequestedQty, ApprovedQty: l.ApprovedQty, DispatchedQty: l.DispatchedQty,
			ReceivedQty: l.ReceivedQty, ShortfallQty: l.ShortfallQty, DiscrepancyReason: l.DiscrepancyReason,
		}
	}
	events, err := q.ListTransferEvents(ctx, t.Key)
	if err != nil {
		return out, fmt.Errorf("transfer %s timeline: %w", t.Key, err)
	}
	out.Timeline = make([]TransferEvent, len(events))
	for i, e := range events {
		out.Timeline[i] = TransferEvent{At: e.At, Kind: e.Kind, Actor: e.Actor, ActorName: e.ActorName, Detail: e.Detail}
	}
	return out, nil
}

// seesTransfer reports whether p may see t: HQ-side roles all, an agent the
// transfers out of or into its warehouses.
func seesTransfer(p auth.Principal, t dbgen.Transfer) bool {
	return p.HQ() || (p.Is(auth.RoleAgent) && (deref(t.SourceAgentCode) == p.Agent || deref(t.DestinationAgentCode) == p.Agent))
}

// visibleTransfer loads the transfer of the :key path parameter and checks
// the caller may see it.
func (s *server) visibleTransfer(c echo.Context, p auth.Principal) (dbgen.Transfer, error) {
	key := c.Param("key")
	t, err := s.q.GetTransfer(c.Request().Context(), key)
	if err != nil {
		return t, notFound(err, "transfer", key)
	}
	if !seesTransfer(p, t) {
		return t, errForbidden("transfer " + key + " is between warehouses of others")
	}
	return t, nil
}

// transferActor is the caller as the workflow and the timeline record them.
func transferActor(p auth.Principal) activities.Actor {
	return activities.Actor{ID: fmt.Sprintf("user:%d", p.UserID), Name: p.Name, Role: string(p.Role), Agent: p.Agent}
}

// idempotencyKey reads the optional Idempotency-Key header of an action.
func transferIdempotencyKey(c echo.Context, required bool) (string, error) {
	key := c.Request().Header.Get("Idempotency-Key")
	if key == "" && !required {
		return "", nil
	}
	if key == "" || len(key) > 100 || !codeLike(key) {
		return "", errInvalid(FieldError{Field: "Idempotency-Key", Detail: "header must be 1-100 letters, digits, '-', '_', '.' or ':'"})
	}
	return key, nil
}

// transferElementFailed reports whether decodeEach already reported the
// array element at prefix (its fields are then left unchecked, so each
// problem is reported once).
func transferElementFailed(v *validator, prefix string) bool {
	for _, e := range v.errs {
		if e.Field == prefix || strings.HasPrefix(e.Field, prefix+".") {
			return true
		}
	}
	return false
}

// ---- request ----

type transferLineInput struct {
	SKU *string `json:"sku"`
	Qty *int64  `json:"qty"`
}

type transferInput struct {
	Source           *string                        `json:"source"`
	Destination      *string                        `json:"destination"`
	Lines            []json.RawMessage              `json:"lines"`
	Reason           *string                        `json:"reason"`
	WantedBy         *string                        `json:"wanted_by"`
	ReceiptDeadlines *transferReceiptDeadlinesInput `json:"receipt_deadlines"`
}

// transferReceiptDeadlinesInput overrides the receipt deadlines of one
// transfer; each one left out is the API's default.
type transferReceiptDeadlinesInput struct {
	RemindAfter   *string `json:"remind_after"`
	EscalateAfter *string `json:"escalate_after"`
}

// receiptDeadline checks an optional duration of receipt_deadlines: a Go
// duration of whole seconds between 1m and 2160h. It returns 0 when absent
// or invalid.
func (v *validator) receiptDeadline(field string, s *string) time.Duration {
	if s == nil {
		return 0
	}
	d, err := time.ParseDuration(*s)
	if err != nil || d < minReceiptDeadline || d > maxReceiptDeadline || d%time.Second != 0 {
		v.add(field, `must be a whole number of seconds between 1m and 2160h, written like "48h" or "90m"`)
		return 0
	}
	return d
}

// receiptDeadlines returns the receipt deadlines of a new transfer: the
// request's, each one left out taken from def, checked to be in order.
func (v *validator) receiptDeadlines(in *transferReceiptDeadlinesInput, def workflows.TransferTimeouts) (remind, escalate time.Duration) {
	remind, escalate = def.ReceiptRemindAfter, def.ReceiptEscalateAfter
	if in == nil {
		return remind, escalate
	}
	const f = "receipt_deadlines."
	before := len(v.errs)
	if in.RemindAfter != nil {
		remind = v.receiptDeadline(f+"remind_after", in.RemindAfter)
	}
	if in.EscalateAfter != nil {
		escalate = v.receiptDeadline(f+"escalate_after", in.EscalateAfter)
	}
	switch {
	case len(v.errs) > before: // reported
	case escalate > remind:
	case in.EscalateAfter != nil:
		v.add(f+"escalate_after", fmt.Sprintf("must come after remind_after (%s)", remind))
	default:
		v.add(f+"remind_after", fmt.Sprintf("must come before escalate_after (%s, the default)", escalate))
	}
	return remind, escalate
}

// requestTransfer records a transfer request and starts its Transfer
// workflow, which reserves the units at the source at once. The
// Idempotency-Key header is the transfer's key: the same key with the same
// body and caller returns the same transfer (200); with anything else, 409.
func (s *server) requestTransfer(c echo.Context) error {
	p, in, err := readInput[transferInput](c, auth.RoleHQSales, auth.RoleAgent)
	if err != nil {
		return err
	}
	key, err := transferIdempotencyKey(c, true)
	if err != nil {
		return err
	}
	v := &validator{}
	src := v.code("source", in.Source, true)
	dst := v.code("destination", in.Destination, true)
	if src != "" && src == dst {
		v.add("destination", "must differ from source")
	}
	reason := v.text("reason", in.Reason, true, 500)
	wantedBy := v.date("wanted_by", in.WantedBy, true)
	if len(in.Lines) == 0 {
		v.add("lines", "at least one line is required")
	} else if len(in.Lines) > maxTransferLines {
		v.add("lines", fmt.Sprintf("at most %d lines", maxTransferLines))
	}
	lines := make([]activities.TransferLine, 0, len(in.Lines))
	for i, l := range decodeEach[transferLineInput](v, "lines", in.Lines) {
		f := fmt.Sprintf("lines[%d]", i)
		if transferElementFailed(v, f) {
			continue
		}
		sku := v.code(f+".sku", l.SKU, true)
		qty := v.positiveInt(f+".qty", l.Qty, true, maxTransferQty)
		if sku != "" && slices.ContainsFunc(lines, func(x activities.TransferLine) bool { return x.SKU == sku }) {
			v.add(f+".sku", "appears twice; put the whole quantity on one line")
		}
		lines = append(lines, activities.TransferLine{SKU: sku, Qty: qty})
	}
	remind, escalate := v.receiptDeadlines(in.ReceiptDeadlines, s.transferTimeouts)
	if err := v.err(); err != nil {
		return err
	}
	deadlines := [2]int32{transferSeconds(remind), transferSeconds(escalate)}

	ctx := c.Request().Context()
	same := func(t dbgen.Transfer) (bool, error) {
		prev, err := s.q.ListTransferLines(ctx, t.Key)
		if err != nil {
			return false, err
		}
		ok := t.SourceCode == src && t.DestinationCode == dst && t.Reason == reason &&
			t.WantedBy.Equal(*wantedBy) && t.CreatedBy == p.UserID && len(prev) == len(lines)
		if t.ReceiptRemindAfterS == nil || t.ReceiptEscalateAfterS == nil { // requested before receipt deadlines
			ok = ok && in.ReceiptDeadlines == nil
		} else {
			ok = ok && *t.ReceiptRemindAfterS == deadlines[0] && *t.ReceiptEscalateAfterS == deadlines[1]
		}
		for i := 0; ok && i < len(prev); i++ {
			ok = prev[i].Sku == lines[i].SKU && prev[i].RequestedQty == lines[i].Qty
		}
		return ok, nil
	}
	created := false
	t, err := s.q.GetTransfer(ctx, key)
	if errors.Is(err, pgx.ErrNoRows) {
		t, created, err = s.recordTransfer(c, p, key, src, dst, reason, *wantedBy, lines, deadlines)
		if err == nil && !created { // a concurrent request with the same key recorded it first
			t, err = s.q.GetTransfer(ctx, key)
		}
	}
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if !created { // the same request again?
		ok, err := same(t)
		if err != nil {
			return err
		}
		if !ok {
			return errConflict("Idempotency-Key " + key + " was already used for a different transfer")
		}
		status = http.StatusOK
	}
	if err := s.startTransfer(ctx, t, lines); err != nil {
		s.logger.ErrorContext(ctx, "start transfer workflow", "key", key, "error", err)
		return errUnavailable("the transfer is recorded but its workflow could not be started; retry with the same Idempotency-Key")
	}
	out, err := s.transferDetail(ctx, s.q, t)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/transfers/"+key)
	return c.JSON(status, out)
}

// recordTransfer checks the request against the data (warehouses, scope,
// SKUs) and records it with its lines, its receipt deadlines (seconds), its
// first timeline event and an audit event, in one transaction. created is
// false when a concurrent request recorded the key first (and nothing was
// written).
func (s *server) recordTransfer(c echo.Context, p auth.Principal, key, src, dst, reason string, wantedBy time.Time, lines []activities.TransferLine, deadlines [2]int32) (t dbgen.Transfer, created bool, err error) {
	ctx := c.Request().Context()
	v := &validator{}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if wantedBy.Before(today) {
		v.add("wanted_by", "must not be in the past")
	}
	warehouse := func(field, code string) (*dbgen.Warehouse, error) {
		w, err := s.q.GetWarehouse(ctx, code)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			v.add(field, "refers to something that does not exist")
		case err != nil:
			return nil, fmt.Errorf("%s %s: %w", field, code, err)
		case !w.Active:
			v.add(field, "is inactive")
		default:
			return &w, nil
		}
		return nil, nil
	}
	source, err := warehouse("source", src)
	if err != nil {
		return t, false, err
	}
	dest, err := warehouse("destination", dst)
	if err != nil {
		return t, false, err
	}
	if dest != nil && p.Is(auth.RoleAgent) && deref(dest.OwnerAgentCode) != p.Agent {
		return t, false, errForbidden("an agent requests transfers only into its own warehouses")
	}
	for i, l := range lines {
		if _, err := s.q.GetProduct(ctx, l.SKU); errors.Is(err, pgx.ErrNoRows) {
			v.add(fmt.Sprintf("lines[%d].sku", i), "refers to something that does not exist")
		} else if err != nil {
			return t, false, err
		}
	}
	if err := v.err(); err != nil {
		return t, false, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		var err error
		t, err = q.CreateTransfer(ctx, dbgen.CreateTransferParams{
			Key: key, SourceCode: src, DestinationCode: dst, SourceAgentCode: source.OwnerAgentCode,
			DestinationAgentCode: dest.OwnerAgentCode, Region: source.Region, Reason: reason, WantedBy: wantedBy, CreatedBy: p.UserID,
			ReceiptRemindAfterS: &deadlines[0], ReceiptEscalateAfterS: &deadlines[1],
		})
		if errors.Is(err, pgx.ErrNoRows) { // a concurrent request with the same key won
			return nil
		} else if err != nil {
			return fmt.Errorf("record transfer %s: %w", key, err)
		}
		created = true
		for i, l := range lines {
			if err := q.InsertTransferLine(ctx, dbgen.InsertTransferLineParams{TransferKey: key, LineNo: int32(i + 1), Sku: l.SKU, RequestedQty: l.Qty}); err != nil {
				return fmt.Errorf("record transfer %s line %d: %w", key, i+1, err)
			}
		}
		actor := transferActor(p)
		detail, err := json.Marshal(map[string]any{
			"source": src, "destination": dst, "lines": lines, "reason": reason, "wanted_by": wantedBy.Format(time.DateOnly),
			"receipt_remind_after":   (time.Duration(deadlines[0]) * time.Second).String(),
			"receipt_escalate_after": (time.Duration(deadlines[1]) * time.Second).String(),
		})
		if err != nil {
			return err
		}
		if _, err := q.InsertTransferEvent(ctx, dbgen.InsertTransferEventParams{
			TransferKey: key, Step: activities.StepRequest, Actor: actor.ID, ActorName: actor.Name, Kind: "requested", Detail: detail,
		}); err != nil {
			return fmt.Errorf("record transfer %s: timeline: %w", key, err)
		}
		return audit(ctx, q, c, "request", "transfer", key, json.RawMessage(detail))
	})
	return t, created, err
}

// startTransfer starts (or finds) the transfer's workflow. On a retry after
// a failure here the row exists and the start is attempted again;
// USE_EXISTING makes that safe, and a closed workflow is never restarted.
func (s *server) startTransfer(ctx context.Context, t dbgen.Transfer, lines []activities.TransferLine) error {
	agent := deref(t.SourceAgentCode)
	if agent == "" {
		agent = deref(t.DestinationAgentCode)
	}
	timeouts := s.transferTimeouts
	if t.ReceiptRemindAfterS != nil && t.ReceiptEscalateAfterS != nil { // as recorded with the request
		timeouts.ReceiptRemindAfter = time.Duration(*t.ReceiptRemindAfterS) * time.Second
		timeouts.ReceiptEscalateAfter = time.Duration(*t.ReceiptEscalateAfterS) * time.Second
	}
	_, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.TransferID(t.Key), TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:            fmt.Sprintf("Transfer %s: %s → %s", t.Key, t.SourceCode, t.DestinationCode),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SAEntity.ValueSet(workflows.EntityTransfer), workflows.SAKey.ValueSet(t.Key),
			workflows.SAStatus.ValueSet(workflows.TransferRequested), workflows.SAAgent.ValueSet(agent),
			workflows.SARegion.ValueSet(t.Region),
		),
	}, workflows.Transfer, workflows.TransferInput{
		Key: t.Key, Source: t.SourceCode, Destination: t.DestinationCode,
		SourceAgent: deref(t.SourceAgentCode), DestinationAgent: deref(t.DestinationAgentCode),
		Lines: lines, Timeouts: timeouts,
	})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) { // already started and closed: it ran
		return err
	}
	return nil
}

// ---- read ----

func (s *server) getTransfer(c echo.Context) error {
	p, err := allow(c, transferReaders...)
	if err != nil {
		return err
	}
	t, err := s.visibleTransfer(c, p)
	if err != nil {
		return err
	}
	out, err := s.transferDetail(c.Request().Context(), s.q, t)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// listTransfers lists transfers by key, filtered by status, warehouse
// (source or destination), agent (owning the source or the destination) and
// awaiting=me (those waiting for the caller's decision or receipt).
func (s *server) listTransfers(c echo.Context) error {
	p, err := allow(c, transferReaders...)
	if err != nil {
		return err
	}
	v := &validator{}
	limit, after := page(c, v)
	status := queryEnum(c, v, "status", transferStatuses...)
	awaiting := queryEnum(c, v, "awaiting", "me")
	if err := v.err(); err != nil {
		return err
	}
	params := dbgen.ListTransfersParams{
		After: after, Status: status, Warehouse: queryOpt(c, "warehouse"), Agent: queryOpt(c, "agent"),
		ScopeAgent: p.ScopeAgent(), Lim: limit,
	}
	if awaiting != nil {
		switch {
		case p.Is(auth.RoleAgent):
			params.AwaitingAgent = &p.Agent
		case p.Is(auth.RoleHQSales):
			params.AwaitingHq, params.AwaitingHqReceipt = true, true
		case p.Is(auth.RoleHQAdmin):
			params.AwaitingHqReceipt = true
		default: // this role decides and receives no transfer: nothing waits for it
			return c.JSON(http.StatusOK, newList([]TransferListItem{}, limit, nil))
		}
	}
	rows, err := s.q.ListTransfers(c.Request().Context(), params)
	if err != nil {
		return err
	}
	out := make([]TransferListItem, len(rows))
	for i, r := range rows {
		out[i] = TransferListItem{
			TransferSummary: transferSummaryOf(dbgen.Transfer{
				Key: r.Key, SourceCode: r.SourceCode, DestinationCode: r.DestinationCode, SourceAgentCode: r.SourceAgentCode,
				DestinationAgentCode: r.DestinationAgentCode, Region: r.Region, Reason: r.Reason, WantedBy: r.WantedBy,
				Status: r.Status, Failure: r.Failure, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
				RemindedAt: r.RemindedAt, EscalatedAt: r.EscalatedAt, DecidedAt: r.DecidedAt, DecidedBy: r.DecidedBy,
				DecisionNote: r.DecisionNote, DispatchedAt: r.DispatchedAt, ReceivedAt: r.ReceivedAt, ClosedAt: r.ClosedAt,
				ReceiptRemindAfterS: r.ReceiptRemindAfterS, ReceiptEscalateAfterS: r.ReceiptEscalateAfterS,
				ReceiptRemindedAt: r.ReceiptRemindedAt, ReceiptEscalatedAt: r.ReceiptEscalatedAt,
			}),
			LineCount: r.LineCount, RequestedUnits: r.RequestedUnits,
		}
	}
	return c.JSON(http.StatusOK, newList(out, limit, func(x TransferListItem) string { return x.Key }))
}

// ---- actions (Temporal updates) ----

type transferDecisionInput struct {
	Decision *string           `json:"decision"`
	Lines    []json.RawMessage `json:"lines"`
	Reason   *string           `json:"reason"`
}

type transferDecisionLineInput struct {
	SKU         *string `json:"sku"`
	ApprovedQty *int64  `json:"approved_qty"`
}

// decideTransfer approves (optionally less than requested, per SKU) or
// rejects a transfer. Only the source's owner may: its agent, or hq_sales
// for HQ's warehouses; hq_sales also once the decision is escalated.
func (s *server) decideTransfer(c echo.Context) error {
	p, in, err := readInput[transferDecisionInput](c, auth.RoleAgent, auth.RoleHQSales)
	if err != nil {
		return err
	}
	ikey, err := transferIdempotencyKey(c, false)
	if err != nil {
		return err
	}
	t, err := s.visibleTransfer(c, p)
	if err != nil {
		return err
	}
	switch {
	case t.SourceAgentCode != nil && p.Is(auth.RoleAgent) && *t.SourceAgentCode == p.Agent:
	case p.Is(auth.RoleHQSales) && (t.SourceAgentCode == nil || t.EscalatedAt != nil):
	case t.SourceAgentCode != nil:
		return errForbidden("only agent " + *t.SourceAgentCode + ", which owns " + t.SourceCode + ", decides on this transfer (hq_sales once escalated)")
	default:
		return errForbidden("only hq_sales decides on transfers out of HQ's warehouses")
	}
	v := &validator{}
	decision := v.enum("decision", in.Decision, true, "approve", "reject")
	reason := v.text("reason", in.Reason, decision == "reject", 500)
	if decision == "reject" && in.Lines != nil {
		v.add("lines", "only when approving")
	}
	var lines []activities.TransferLine
	for i, l := range decodeEach[transferDecisionLineInput](v, "lines", in.Lines) {
		f := fmt.Sprintf("lines[%d]", i)
		if transferElementFailed(v, f) {
			continue
		}
		sku := v.code(f+".sku", l.SKU, true)
		switch {
		case l.ApprovedQty == nil:
			v.add(f+".approved_qty", "is required")
		case *l.ApprovedQty < 0:
			v.add(f+".approved_qty", "must not be negative")
		}
		if sku != "" && l.ApprovedQty != nil {
			lines = append(lines, activities.TransferLine{SKU: sku, Qty: *l.ApprovedQty})
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	arg := workflows.TransferDecision{Approve: decision == "approve", Lines: lines, Reason: reason, By: transferActor(p), IdempotencyKey: ikey}
	return s.updateTransfer(c, t, workflows.TransferDecideUpdate, ikey, arg, "approved", "rejected")
}

type transferReceiptInput struct {
	Lines []json.RawMessage `json:"lines"`
}

type transferReceiptLineInput struct {
	SKU         *string `json:"sku"`
	ReceivedQty *int64  `json:"received_qty"`
	Reason      *string `json:"reason"`
}

// receiveTransfer reports what arrived at the destination: the received
// quantity of every dispatched SKU, with a reason for each short line. Only
// the destination's owner may: its agent, or hq_admin / hq_sales for HQ's —
// and for an agent's once the receipt is escalated, on the agent's behalf
// (the timeline records who).
func (s *server) receiveTransfer(c echo.Context) error {
	p, in, err := readInput[transferReceiptInput](c, auth.RoleAgent, auth.RoleHQAdmin, auth.RoleHQSales)
	if err != nil {
		return err
	}
	ikey, err := transferIdempotencyKey(c, false)
	if err != nil {
		return err
	}
	t, err := s.visibleTransfer(c, p)
	if err != nil {
		return err
	}
	hq := p.Is(auth.RoleHQAdmin) || p.Is(auth.RoleHQSales)
	if t.DestinationAgentCode != nil && !(p.Is(auth.RoleAgent) && *t.DestinationAgentCode == p.Agent) && !(hq && t.ReceiptEscalatedAt != nil) {
		return errForbidden("only agent " + *t.DestinationAgentCode + ", which owns " + t.DestinationCode + ", reports the receipt (hq_admin or hq_sales once it is escalated)")
	}
	if t.DestinationAgentCode == nil && p.Is(auth.RoleAgent) {
		return errForbidden(t.DestinationCode + " is HQ's: hq_admin or hq_sales reports the receipt")
	}
	v := &validator{}
	if len(in.Lines) == 0 {
		v.add("lines", "at least one line is required")
	}
	lines := make([]workflows.ReceiptLine, 0, len(in.Lines))
	for i, l := range decodeEach[transferReceiptLineInput](v, "lines", in.Lines) {
		f := fmt.Sprintf("lines[%d]", i)
		if transferElementFailed(v, f) {
			continue
		}
		sku := v.code(f+".sku", l.SKU, true)
		var qty int64
		switch {
		case l.ReceivedQty == nil:
			v.add(f+".received_qty", "is required")
		case *l.ReceivedQty < 0:
			v.add(f+".received_qty", "must not be negative")
		default:
			qty = *l.ReceivedQty
		}
		lines = append(lines, workflows.ReceiptLine{SKU: sku, Received: qty, Reason: v.text(f+".reason", l.Reason, false, 500)})
	}
	if err := v.err(); err != nil {
		return err
	}
	arg := workflows.TransferReceipt{Lines: lines, By: transferActor(p), IdempotencyKey: ikey}
	return s.updateTransfer(c, t, workflows.TransferReceiveUpdate, ikey, arg, "received")
}

type transferCancelInput struct {
	Reason *string `json:"reason"`
}

// cancelTransfer withdraws a transfer before it is approved and dispatched;
// its reservation is released. hq_sales, or the agent owning the
// destination (the requesting side), may.
func (s *server) cancelTransfer(c echo.Context) error {
	p, in, err := readInput[transferCancelInput](c, auth.RoleAgent, auth.RoleHQSales)
	if err != nil {
		return err
	}
	ikey, err := transferIdempotencyKey(c, false)
	if err != nil {
		return err
	}
	t, err := s.visibleTransfer(c, p)
	if err != nil {
		return err
	}
	if p.Is(auth.RoleAgent) && deref(t.DestinationAgentCode) != p.Agent {
		return errForbidden("only hq_sales or the agent owning the destination may cancel this transfer")
	}
	v := &validator{}
	reason := v.text("reason", in.Reason, true, 500)
	if err := v.err(); err != nil {
		return err
	}
	arg := workflows.TransferCancel{Reason: reason, By: transferActor(p), IdempotencyKey: ikey}
	return s.updateTransfer(c, t, workflows.TransferCancelUpdate, ikey, arg, "cancelled")
}

// updateTransfer sends an update to the transfer's workflow and waits for
// its outcome, then answers with the transfer as it now stands. The
// Idempotency-Key, when given, is the update's ID: the same action sent
// again is applied once. eventKinds are the timeline kinds the action
// records, to recognise a repeat once the workflow has closed.
func (s *server) updateTransfer(c echo.Context, t dbgen.Transfer, name, ikey string, arg any, eventKinds ...string) error {
	ctx := c.Request().Context()
	updateID := ""
	if ikey != "" {
		updateID = name + ":" + ikey
	}
	h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.TransferID(t.Key), UpdateID: updateID, UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var outcome workflows.TransferOutcome
	if err == nil {
		err = h.Get(ctx, &outcome)
	}
	if err != nil {
		if perr := s.transferUpdateError(ctx, err, t, ikey, eventKinds); perr != nil {
			return perr
		}
	}
	if err := s.auditTransfer(c, name, t.Key, arg); err != nil {
		return err
	}
	cur, err := s.q.GetTransfer(ctx, t.Key)
	if err != nil {
		return err
	}
	out, err := s.transferDetail(ctx, s.q, cur)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// auditTransfer records an action on a transfer in audit_events.
func (s *server) auditTransfer(c echo.Context, action, key string, payload any) error {
	return audit(c.Request().Context(), s.q, c, action, "transfer", key, payload)
}

// transferUpdateError maps a refused or failed update to a problem: the
// validator's refusals to 403 / 409 / 422 (naming the fields), a closed
// workflow to 409 — or to nil when the same action (same Idempotency-Key)
// is what closed it, so a retry answers like the first call.
func (s *server) transferUpdateError(ctx context.Context, err error, t dbgen.Transfer, ikey string, eventKinds []string) error {
	if p := updateRejection(err); p != nil {
		return p
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		if ikey != "" {
			_, lerr := s.q.TransferEventByIdempotencyKey(ctx, dbgen.TransferEventByIdempotencyKeyParams{
				TransferKey: t.Key, Kinds: eventKinds, IdempotencyKey: ikey,
			})
			if lerr == nil {
				return nil // this very action was applied: answer as then
			} else if !errors.Is(lerr, pgx.ErrNoRows) {
				return lerr
			}
		}
		cur, gerr := s.q.GetTransfer(ctx, t.Key)
		if gerr != nil {
			return gerr
		}
		if cur.Status == workflows.TransferRequested { // recorded, but its workflow never started
			return errUnavailable("the transfer's workflow has not started: repeat POST /v1/transfers with the same Idempotency-Key and body")
		}
		return errConflict(fmt.Sprintf("transfer %s is %s: it takes no more actions", t.Key, cur.Status))
	}
	var timeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	if errors.As(err, &timeout) {
		return errUnavailable("the transfer's workflow did not answer in time; retry with the same Idempotency-Key, or check GET /v1/transfers/" + t.Key)
	}
	return fmt.Errorf("update %s: %w", t.Key, err)
}
