package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/inventory"
)

// Transfers holds the activities of cross-channel stock transfers. Each one
// is a single PostgreSQL transaction that posts to the inventory ledger under
// the key "transfer:{key}:{step}" and updates the transfer's status, lines
// and timeline, so the read model never disagrees with the ledger. Run twice,
// each posts once and records its timeline event once.
type Transfers struct {
	Pool *pgxpool.Pool
}

// TransferLine is one SKU and a quantity of a transfer.
type TransferLine struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// Actor is who caused a step: a person ("user:<id>", with name, role and
// agent) or the workflow itself (SystemActor).
type Actor struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Role  string `json:"role,omitempty"`
	Agent string `json:"agent,omitempty"`
}

// SystemActor is the actor of the steps the workflow takes on its own:
// timers, dispatch after approval, compensations.
var SystemActor = Actor{ID: "system"}

// ErrTypeTransferState is the application error type of a step applied to a
// transfer whose recorded status does not allow it: the workflow and the
// read model disagree, which retrying cannot fix.
const ErrTypeTransferState = "TransferState"

// Transfer statuses, as stored in transfers.status.
const (
	TransferRequested        = "requested"
	TransferAwaitingApproval = "awaiting_approval"
	TransferApproved         = "approved"
	TransferInTransit        = "in_transit"
	TransferReceived         = "received"
	TransferRejected         = "rejected"
	TransferExpired          = "expired"
	TransferCancelled        = "cancelled"
	TransferFailed           = "failed"
)

// TransferPostingKey is the ledger idempotency key of one step of a transfer.
func TransferPostingKey(key, step string) string { return "transfer:" + key + ":" + step }

// The steps of a transfer that post to the ledger or record an event; each
// is the suffix of its ledger key and the step of its timeline event.
const (
	StepRequest           = "request"
	StepReserve           = "reserve"
	StepRemind            = "remind"
	StepEscalate          = "escalate"
	StepApprove           = "approve"
	StepReleaseUnapproved = "release-unapproved"
	StepDispatch          = "dispatch"
	StepReceiptRemind     = "receipt-remind"
	StepReceiptEscalate   = "receipt-escalate"
	StepReceive           = "receive"
	StepShortfall         = "shortfall"
	StepRelease           = "release"
	StepClose             = "close"
)

// StepResult says what a step did to the ledger.
type StepResult struct {
	// Movements is the number of ledger movements of the step's postings.
	Movements int `json:"movements"`
	// Replayed is true when the step had been posted before and nothing new
	// was written.
	Replayed bool `json:"replayed"`
}

// TransferReserveInput asks to reserve a transfer's lines at its source.
type TransferReserveInput struct {
	Key    string         `json:"key"`
	Source string         `json:"source"`
	Lines  []TransferLine `json:"lines"`
}

// TransferReserve reserves the requested units at the source, so they can be
// sold or promised nowhere else, and marks the transfer awaiting approval. The
// ledger's refusal (not enough available) is a non-retryable StockRefused.
func (a *Transfers) TransferReserve(ctx context.Context, in TransferReserveInput) (StepResult, error) {
	var res StepResult
	err := a.tx(ctx, func(tx pgx.Tx, q *dbgen.Queries) error {
		r, err := transferPost(ctx, tx, inventory.Reserve(a.op(in.Key, StepReserve, SystemActor), transferAt(in.Source, in.Lines)))
		if err != nil {
			return err
		}
		res = r
		if err := a.status(ctx, q, in.Key, q.MarkTransferReserved, TransferAwaitingApproval); err != nil {
			return err
		}
		return transferEvent(ctx, q, in.Key, StepReserve, SystemActor, "reserved", map[string]any{"warehouse": in.Source, "lines": in.Lines})
	})
	return res, err
}

// TransferRemind records that the approver was reminded of a transfer that
// still waits for a decision.
func (a *Transfers) TransferRemind(ctx context.Context, key string) error {
	return a.tx(ctx, func(_ pgx.Tx, q *dbgen.Queries) error {
		if _, err := q.MarkTransferReminded(ctx, key); err != nil {
			return fmt.Errorf("transfer %s: mark reminded: %w", key, err)
		}
		return transferEvent(ctx, q, key, StepRemind, SystemActor, "reminded", map[string]any{})
	})
}

// TransferEscalate records that the decision is escalated to hq_sales, who
// may decide from now on besides the owning agent.
func (a *Transfers) TransferEscalate(ctx context.Context, key string) error {
	return a.tx(ctx, func(_ pgx.Tx, q *dbgen.Queries) error {
		if _, err := q.MarkTransferEscalated(ctx, key); err != nil {
			return fmt.Errorf("transfer %s: mark escalated: %w", key, err)
		}
		return transferEvent(ctx, q, key, StepEscalate, SystemActor, "escalated", map[string]any{"to": "hq_sales"})
	})
}

// TransferReceiptRemind records that the destination was reminded of a
// transfer in transit whose receipt it has not reported yet.
func (a *Transfers) TransferReceiptRemind(ctx context.Context, key string) error {
	return a.tx(ctx, func(_ pgx.Tx, q *dbgen.Queries) error {
		if err := a.status(ctx, q, key, q.MarkTransferReceiptReminded, TransferInTransit); err != nil {
			return err
		}
		return transferEvent(ctx, q, key, StepReceiptRemind, SystemActor, "receipt_reminded", map[string]any{})
	})
}

// TransferReceiptEscalate records that the overdue receipt is escalated to
// hq_sales: from now on hq_admin and hq_sales may report it on the
// destination's behalf, besides the owning agent.
func (a *Transfers) TransferReceiptEscalate(ctx context.Context, key string) error {
	return a.tx(ctx, func(_ pgx.Tx, q *dbgen.Queries) error {
		if err := a.status(ctx, q, key, q.MarkTransferReceiptEscalated, TransferInTransit); err != nil {
			return err
		}
		return transferEvent(ctx, q, key, StepReceiptEscalate, SystemActor, "receipt_escalated", map[string]any{"to": "hq_sales"})
	})
}

// TransferApproveInput records an approval. Approved holds one line per
// requested SKU, in request order, with the approved quantity (0..requested).
type TransferApproveInput struct {
	Key            string         `json:"key"`
	Source         string         `json:"source"`
	Actor          Actor          `json:"actor"`
	Requested      []TransferLine `json:"requested"`
	Approved       []TransferLine `json:"approved"`
	Note           string         `json:"note,omitempty"`
	IdempotencyKey string         `json:"idempotency_key,omitempty"`
}

// TransferApprove records the approved quantities and, when less than
// requested was approved, releases the difference at once.
func (a *Transfers) TransferApprove(ctx context.Context, in TransferApproveInput) (StepResult, error) {
	var res StepResult
	err := a.tx(ctx, func(tx pgx.Tx, q *dbgen.Queries) error {
		var diff []TransferLine
		for _, l := range in.Approved {
			i := slices.IndexFunc(in.Requested, func(r TransferLine) bool { return r.SKU == l.SKU })
			if i < 0 || l.Qty < 0 || l.Qty > in.Requested[i].Qty {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("transfer %s: %s: approved %d of a request it does not match", in.Key, l.SKU, l.Qty), ErrTypeTransferState, nil)
			}
			if d := in.Requested[i].Qty - l.Qty; d > 0 {
				diff = append(diff, TransferLine{SKU: l.SKU, Qty: d})
			}
			if _, err := q.SetTransferLineApproved(ctx, dbgen.SetTransferLineApprovedParams{ApprovedQty: &l.Qty, TransferKey: in.Key, Sku: l.SKU}); err != nil {
				return fmt.Errorf("transfer %s: line %s approved: %w", in.Key, l.SKU, err)
			}
		}
		if len(diff) > 0 {
			r, err := transferPost(ctx, tx, inventory.Release(a.op(in.Key, StepReleaseUnapproved, in.Actor), transferAt(in.Source, diff)))
			if err != nil {
				return err
			}
			res = r
		}
		approve := func(ctx context.Context, key string) (int64, error) {
			return q.MarkTransferApproved(ctx, dbgen.MarkTransferApprovedParams{DecidedBy: transferActorLabel(in.Actor), DecisionNote: in.Note, Key: key})
		}
		if err := a.status(ctx, q, in.Key, approve, TransferApproved, TransferInTransit, TransferReceived); err != nil {
			return err
		}
		detail := map[string]any{"lines": in.Approved, "note": in.Note, "partial": len(diff) > 0}
		if in.IdempotencyKey != "" {
			detail["idempotency_key"] = in.IdempotencyKey
		}
		if err := transferEvent(ctx, q, in.Key, StepApprove, in.Actor, "approved", detail); err != nil {
			return err
		}
		if len(diff) > 0 {
			return transferEvent(ctx, q, in.Key, StepReleaseUnapproved, in.Actor, "released", map[string]any{"warehouse": in.Source, "lines": diff, "why": "not approved"})
		}
		return nil
	})
	return res, err
}

// TransferDispatchInput asks to dispatch the approved units.
type TransferDispatchInput struct {
	Key         string         `json:"key"`
	Source      string         `json:"source"`
	Destination string         `json:"destination"`
	Lines       []TransferLine `json:"lines"`
}

// TransferDispatch sends the approved units on the road: the source's on hand
// and reservation drop and the destination's in transit rises, in one
// posting. The units are sellable nowhere until they are received.
func (a *Transfers) TransferDispatch(ctx context.Context, in TransferDispatchInput) (StepResult, error) {
	var res StepResult
	err := a.tx(ctx, func(tx pgx.Tx, q *dbgen.Queries) error {
		r, err := transferPost(ctx, tx, inventory.Move(a.op(in.Key, StepDispatch, SystemActor), in.Destination, transferAt(in.Source, in.Lines), true))
		if err != nil {
			return err
		}
		res = r
		for _, l := range in.Lines {
			if _, err := q.SetTransferLineDispatched(ctx, dbgen.SetTransferLineDispatchedParams{DispatchedQty: &l.Qty, TransferKey: in.Key, Sku: l.SKU}); err != nil {
				return fmt.Errorf("transfer %s: line %s dispatched: %w", in.Key, l.SKU, err)
			}
		}
		if err := a.status(ctx, q, in.Key, q.MarkTransferDispatched, TransferInTransit, TransferReceived); err != nil {
			return err
		}
		return transferEvent(ctx, q, in.Key, StepDispatch, SystemActor, "dispatched", map[string]any{"from": in.Source, "to": in.Destination, "lines": in.Lines})
	})
	return res, err
}

// ReceivedLine is what arrived of one dispatched SKU: Received of Dispatched
// units, and why the rest did not (required when short).
type ReceivedLine struct {
	SKU        string `json:"sku"`
	Dispatched int64  `json:"dispatched"`
	Received   int64  `json:"received"`
	Reason     string `json:"reason,omitempty"`
}

// TransferReceiveInput reports the receipt at the destination, one line per
// dispatched SKU.
type TransferReceiveInput struct {
	Key            string         `json:"key"`
	Destination    string         `json:"destination"`
	Actor          Actor          `json:"actor"`
	Lines          []ReceivedLine `json:"lines"`
	IdempotencyKey string         `json:"idempotency_key,omitempty"`
	// OnBehalfOf is the agent owning the destination when HQ reports the
	// receipt in its stead (once escalated).
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
}

// TransferReceive books the receipt: received units move from in transit to
// on hand at the destination; a shortfall is recorded as a discrepancy (who
// and why) and the missing units leave in transit by a write-off posting of
// their own. More than dispatched is refused (non-retryable).
func (a *Transfers) TransferReceive(ctx context.Context, in TransferReceiveInput) (StepResult, error) {
	var res StepResult
	err := a.tx(ctx, func(tx pgx.Tx, q *dbgen.Queries) error {
		var arrived, missing []TransferLine
		var short []ReceivedLine
		for _, l := range in.Lines {
			if l.Received < 0 || l.Received > l.Dispatched {
				return temporal.NewNonRetryableApplicationError(fmt.Sprintf("transfer %s: %s: received %d of %d dispatched", in.Key, l.SKU, l.Received, l.Dispatched), ErrTypeTransferState, nil)
			}
			if l.Received > 0 {
				arrived = append(arrived, TransferLine{SKU: l.SKU, Qty: l.Received})
			}
			if d := l.Dispatched - l.Received; d > 0 {
				missing = append(missing, TransferLine{SKU: l.SKU, Qty: d})
				short = append(short, l)
			}
			if _, err := q.SetTransferLineReceived(ctx, dbgen.SetTransferLineReceivedParams{
				ReceivedQty: &l.Received, DiscrepancyReason: l.Reason, TransferKey: in.Key, Sku: l.SKU,
			}); err != nil {
				return fmt.Errorf("transfer %s: line %s received: %w", in.Key, l.SKU, err)
			}
		}
		if len(arrived) > 0 {
			r, err := transferPost(ctx, tx, inventory.Arrive(a.op(in.Key, StepReceive, in.Actor), transferAt(in.Destination, arrived)))
			if err != nil {
				return err
			}
			res.Movements, res.Replayed = res.Movements+r.Movements, r.Replayed
		}
		if len(missing) > 0 {
			r, err := transferPost(ctx, tx, inventory.WriteOff(a.op(in.Key, StepShortfall, in.Actor), transferAt(in.Destination, missing)))
			if err != nil {
				return err
			}
			res.Movements, res.Replayed = res.Movements+r.Movements, res.Replayed || r.Replayed
		}
		if err := a.status(ctx, q, in.Key, q.MarkTransferReceived, TransferReceived); err != nil {
			return err
		}
		detail := map[string]any{"warehouse": in.Destination, "lines": in.Lines}
		if in.IdempotencyKey != "" {
			detail["idempotency_key"] = in.IdempotencyKey
		}
		if in.OnBehalfOf != "" {
			detail["on_behalf_of"] = in.OnBehalfOf
		}
		if err := transferEvent(ctx, q, in.Key, StepReceive, in.Actor, "received", detail); err != nil {
			return err
		}
		if len(short) > 0 {
			return transferEvent(ctx, q, in.Key, StepShortfall, in.Actor, "discrepancy", map[string]any{"warehouse": in.Destination, "lines": short, "written_off": missing})
		}
		return nil
	})
	return res, err
}

// TransferReleaseInput asks to release what a transfer still holds reserved
// at its source: the saga's compensation of the reservation.
type TransferReleaseInput struct {
	Key    string         `json:"key"`
	Source string         `json:"source"`
	Lines  []TransferLine `json:"lines"`
	// Why names what is being undone ("rejected", "expired", ...).
	Why string `json:"why"`
}

// TransferRelease releases the reservation the transfer still holds.
func (a *Transfers) TransferRelease(ctx context.Context, in TransferReleaseInput) (StepResult, error) {
	var res StepResult
	err := a.tx(ctx, func(tx pgx.Tx, q *dbgen.Queries) error {
		r, err := transferPost(ctx, tx, inventory.Release(a.op(in.Key, StepRelease, SystemActor), transferAt(in.Source, in.Lines)))
		if err != nil {
			return err
		}
		res = r
		return transferEvent(ctx, q, in.Key, StepRelease, SystemActor, "released", map[string]any{"warehouse": in.Source, "lines": in.Lines, "why": in.Why})
	})
	return res, err
}

// TransferCloseInput ends a transfer that will not complete.
type TransferCloseInput struct {
	Key string `json:"key"`
	// Status is rejected, expired, cancelled or failed.
	Status         string `json:"status"`
	Reason         string `json:"reason"`
	Actor          Actor  `json:"actor"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// TransferClose records the end of a transfer that was rejected, expired,
// cancelled or failed (after its compensations ran).
func (a *Transfers) TransferClose(ctx context.Context, in TransferCloseInput) error {
	if !slices.Contains([]string{TransferRejected, TransferExpired, TransferCancelled, TransferFailed}, in.Status) {
		return temporal.NewNonRetryableApplicationError("transfer "+in.Key+": cannot close as "+in.Status, ErrTypeTransferState, nil)
	}
	return a.tx(ctx, func(_ pgx.Tx, q *dbgen.Queries) error {
		reason := in.Reason
		if r := []rune(reason); len(r) > 500 {
			reason = string(r[:500])
		}
		closeAs := func(ctx context.Context, key string) (int64, error) {
			return q.CloseTransfer(ctx, dbgen.CloseTransferParams{Status: in.Status, Failure: reason, DecidedBy: transferActorLabel(in.Actor), Key: key})
		}
		if err := a.status(ctx, q, in.Key, closeAs, in.Status); err != nil {
			return err
		}
		detail := map[string]any{"reason": reason}
		if in.IdempotencyKey != "" {
			detail["idempotency_key"] = in.IdempotencyKey
		}
		return transferEvent(ctx, q, in.Key, StepClose, in.Actor, in.Status, detail)
	})
}

// tx runs fn in one transaction and makes the ledger's refusals permanent.
func (a *Transfers) tx(ctx context.Context, fn func(tx pgx.Tx, q *dbgen.Queries) error) error {
	err := pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error { return fn(tx, dbgen.New(tx)) })
	return permanent(err)
}

func (a *Transfers) op(key, step string, actor Actor) inventory.Op {
	return inventory.Op{Key: TransferPostingKey(key, step), Reference: "transfer " + key, Actor: actor.ID}
}

// status applies a guarded status change; when it changes no row, the
// transfer must already be in one of the statuses the step leads to (the
// step ran before), or the step is refused for good.
func (a *Transfers) status(ctx context.Context, q *dbgen.Queries, key string, update func(context.Context, string) (int64, error), after ...string) error {
	n, err := update(ctx, key)
	if err != nil {
		return fmt.Errorf("transfer %s: update status: %w", key, err)
	}
	if n > 0 {
		return nil
	}
	t, err := q.GetTransfer(ctx, key)
	if errors.Is(err, pgx.ErrNoRows) {
		return temporal.NewNonRetryableApplicationError("transfer "+key+" is not recorded", ErrTypeTransferState, nil)
	} else if err != nil {
		return fmt.Errorf("transfer %s: load: %w", key, err)
	}
	if !slices.Contains(after, t.Status) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("transfer %s is %s: the step cannot apply", key, t.Status), ErrTypeTransferState, nil)
	}
	return nil
}

func transferPost(ctx context.Context, tx pgx.Tx, p inventory.Posting) (StepResult, error) {
	r, err := inventory.PostTx(ctx, tx, p)
	if err != nil {
		return StepResult{}, fmt.Errorf("post %s: %w", p.Key, err)
	}
	return StepResult{Movements: len(r.Movements), Replayed: r.Replayed}, nil
}

func transferEvent(ctx context.Context, q *dbgen.Queries, key, step string, actor Actor, kind string, detail map[string]any) error {
	body, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("transfer %s: event detail: %w", key, err)
	}
	if _, err := q.InsertTransferEvent(ctx, dbgen.InsertTransferEventParams{
		TransferKey: key, Step: step, Actor: actor.ID, ActorName: actor.Name, Kind: kind, Detail: body,
	}); err != nil {
		return fmt.Errorf("transfer %s: record %s: %w", key, step, err)
	}
	return nil
}

// at places transfer lines at a warehouse, for the ledger.
func transferAt(warehouse string, lines []TransferLine) []inventory.Line {
	out := make([]inventory.Line, 0, len(lines))
	for _, l := range lines {
		out = append(out, inventory.Line{Warehouse: warehouse, SKU: l.SKU, Qty: l.Qty})
	}
	return out
}

// actorLabel is how the read model names who decided: the user's name, or
// the actor ID.
func transferActorLabel(a Actor) string {
	if a.Name != "" {
		return a.Name
	}
	return a.ID
}
