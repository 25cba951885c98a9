// Package inventory posts stock movements to the append-only ledger.
//
// Every operation (reserve, release, receive, ship, move, arrive, write off)
// is a Posting: an idempotency key plus one or more movements. Posting the
// same key twice is a no-op that returns the first result, so activities can
// be retried safely. Balances are maintained from the ledger by the database,
// whose constraints refuse any posting that would take on hand, reserved or
// in transit below zero or reserved above on hand; concurrent postings on the
// same (warehouse, SKU) serialise on its balance row.
package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/alliance/backoffice/db/dbgen"
)

// Kind names an inventory operation.
type Kind string

// The operations the ledger knows.
const (
	KindReceive  Kind = "receive"   // goods in: on hand +
	KindReserve  Kind = "reserve"   // promise stock: reserved +
	KindRelease  Kind = "release"   // undo a reservation: reserved -
	KindShip     Kind = "ship"      // reserved goods leave: on hand -, reserved -
	KindMove     Kind = "move"      // dispatch to another warehouse: source on hand - (and reserved -), destination in transit +
	KindArrive   Kind = "arrive"    // goods on the road arrive: in transit -, on hand +
	KindWriteOff Kind = "write_off" // goods lost on the road: in transit -
)

// Line is a quantity of one SKU at one warehouse.
type Line struct {
	Warehouse string `json:"warehouse"`
	SKU       string `json:"sku"`
	Qty       int64  `json:"qty"`
}

// Op identifies an operation: Key makes it idempotent (reuse the key on
// retry, never across different operations), Reference says what business
// document it belongs to and Actor who or what caused it.
type Op struct {
	Key       string
	Reference string
	Actor     string
}

// Entry is one movement of a posting.
type Entry struct {
	Warehouse      string
	SKU            string
	Reason         string
	OnHandDelta    int64
	ReservedDelta  int64
	InTransitDelta int64
}

// Posting is a set of movements applied atomically under one idempotency key.
type Posting struct {
	Op
	Kind    Kind
	Entries []Entry
}

// Result is what a posting did. Replayed is true when the key had already
// been posted and nothing new was written.
type Result struct {
	Key       string
	Replayed  bool
	Movements []dbgen.InventoryMovement
}

// Errors a posting can fail with. Wrapped errors carry the details.
var (
	// ErrInsufficientStock: the posting would take a balance below zero or
	// reserve more than is on hand.
	ErrInsufficientStock = errors.New("insufficient stock")
	// ErrUnknownItem: the warehouse or SKU does not exist.
	ErrUnknownItem = errors.New("unknown warehouse or SKU")
	// ErrKeyReused: the idempotency key was already used for another kind of operation.
	ErrKeyReused = errors.New("idempotency key already used for a different operation")
	// ErrInvalid: the posting itself is malformed (no lines, quantity not positive, ...).
	ErrInvalid = errors.New("invalid inventory posting")
)

// StockError says which line of a posting the database refused, and why.
type StockError struct {
	Warehouse  string
	SKU        string
	Constraint string
	err        error
}

func (e *StockError) Error() string {
	return fmt.Sprintf("%s %s: %v (%s)", e.Warehouse, e.SKU, e.err, e.Constraint)
}

// Unwrap returns ErrInsufficientStock or ErrUnknownItem.
func (e *StockError) Unwrap() error { return e.err }

// Reserve builds a posting that reserves each line's quantity at its warehouse.
func Reserve(op Op, lines []Line) Posting {
	return build(op, KindReserve, lines, func(l Line) []Entry {
		return []Entry{{Warehouse: l.Warehouse, SKU: l.SKU, Reason: "reserve", ReservedDelta: l.Qty}}
	})
}

// Release builds a posting that releases reservations.
func Release(op Op, lines []Line) Posting {
	return build(op, KindRelease, lines, func(l Line) []Entry {
		return []Entry{{Warehouse: l.Warehouse, SKU: l.SKU, Reason: "release", ReservedDelta: -l.Qty}}
	})
}

// Receive builds a posting of goods received into stock (on hand rises).
func Receive(op Op, lines []Line) Posting {
	return build(op, KindReceive, lines, func(l Line) []Entry {
		return []Entry{{Warehouse: l.Warehouse, SKU: l.SKU, Reason: "receipt", OnHandDelta: l.Qty}}
	})
}

// Ship builds a posting of reserved goods leaving their warehouse: on hand and
// reserved both drop.
func Ship(op Op, lines []Line) Posting {
	return build(op, KindShip, lines, func(l Line) []Entry {
		return []Entry{{Warehouse: l.Warehouse, SKU: l.SKU, Reason: "ship", OnHandDelta: -l.Qty, ReservedDelta: -l.Qty}}
	})
}

// Move builds a dispatch from each line's warehouse to the destination: the
// source's on hand drops (and its reservation too when fromReserved), the
// destination's in transit rises. The units are sellable nowhere until they
// arrive.
func Move(op Op, destination string, lines []Line, fromReserved bool) Posting {
	return build(op, KindMove, lines, func(l Line) []Entry {
		out := Entry{Warehouse: l.Warehouse, SKU: l.SKU, Reason: "dispatch", OnHandDelta: -l.Qty}
		if fromReserved {
			out.ReservedDelta = -l.Qty
		}
		in := Entry{Warehouse: destination, SKU: l.SKU, Reason: "dispatch", InTransitDelta: l.Qty}
		return []Entry{out, in}
	})
}

// Arrive builds a posting of goods in transit arriving at each line's
// warehouse: in transit drops, on hand rises.
func Arrive(op Op, lines []Line) Posting {
	return build(op, KindArrive, lines, func(l Line) []Entry {
		return []Entry{{Warehouse: l.Warehouse, SKU: l.SKU, Reason: "arrival", OnHandDelta: l.Qty, InTransitDelta: -l.Qty}}
	})
}

// WriteOff builds a posting that takes units that never arrived out of the
// destination's in transit.
func WriteOff(op Op, lines []Line) Posting {
	return build(op, KindWriteOff, lines, func(l Line) []Entry {
		return []Entry{{Warehouse: l.Warehouse, SKU: l.SKU, Reason: "write_off", InTransitDelta: -l.Qty}}
	})
}

func build(op Op, kind Kind, lines []Line, entries func(Line) []Entry) Posting {
	p := Posting{Op: op, Kind: kind}
	for _, l := range lines {
		if l.Qty <= 0 {
			// Keep the bad line so Validate reports it.
			p.Entries = append(p.Entries, Entry{Warehouse: l.Warehouse, SKU: l.SKU})
			continue
		}
		p.Entries = append(p.Entries, entries(l)...)
	}
	return p
}

// Validate checks the posting's shape before it reaches the database.
func (p Posting) Validate() error {
	switch {
	case p.Key == "":
		return fmt.Errorf("%w: missing idempotency key", ErrInvalid)
	case p.Reference == "":
		return fmt.Errorf("%w: missing reference", ErrInvalid)
	case p.Actor == "":
		return fmt.Errorf("%w: missing actor", ErrInvalid)
	case len(p.Entries) == 0:
		return fmt.Errorf("%w: no lines", ErrInvalid)
	}
	for _, e := range p.Entries {
		if e.Warehouse == "" || e.SKU == "" {
			return fmt.Errorf("%w: line without warehouse or SKU", ErrInvalid)
		}
		if e.OnHandDelta == 0 && e.ReservedDelta == 0 && e.InTransitDelta == 0 {
			return fmt.Errorf("%w: %s %s: quantity must be positive", ErrInvalid, e.Warehouse, e.SKU)
		}
	}
	return nil
}

// Ledger posts to the inventory ledger.
type Ledger struct {
	pool *pgxpool.Pool
}

// NewLedger returns a Ledger over pool.
func NewLedger(pool *pgxpool.Pool) *Ledger { return &Ledger{pool: pool} }

// Post applies p in its own transaction. See PostTx.
func (l *Ledger) Post(ctx context.Context, p Posting) (Result, error) {
	var res Result
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var err error
		res, err = PostTx(ctx, tx, p)
		return err
	})
	return res, err
}

// PostTx applies p inside tx, so callers can commit it together with their
// own writes. If p.Key was posted before, nothing is written and the earlier
// movements are returned with Replayed set. Entries are applied in (warehouse,
// SKU) order so concurrent multi-line postings cannot deadlock.
func PostTx(ctx context.Context, tx pgx.Tx, p Posting) (Result, error) {
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	q := dbgen.New(tx)
	res := Result{Key: p.Key}
	_, err := q.InsertPosting(ctx, dbgen.InsertPostingParams{Key: p.Key, Kind: string(p.Kind), Reference: p.Reference, Actor: p.Actor})
	if errors.Is(err, pgx.ErrNoRows) {
		prev, err := q.GetPosting(ctx, p.Key)
		if err != nil {
			return Result{}, fmt.Errorf("inventory: load posting %q: %w", p.Key, err)
		}
		if prev.Kind != string(p.Kind) {
			return Result{}, fmt.Errorf("%w: %q is a %s posting", ErrKeyReused, p.Key, prev.Kind)
		}
		res.Replayed = true
		res.Movements, err = q.ListPostingMovements(ctx, p.Key)
		if err != nil {
			return Result{}, fmt.Errorf("inventory: load movements of %q: %w", p.Key, err)
		}
		return res, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("inventory: claim key %q: %w", p.Key, err)
	}
	entries := slices.Clone(p.Entries)
	slices.SortStableFunc(entries, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Warehouse, b.Warehouse), cmp.Compare(a.SKU, b.SKU))
	})
	for _, e := range entries {
		m, err := q.InsertMovement(ctx, dbgen.InsertMovementParams{
			PostingKey: p.Key, WarehouseCode: e.Warehouse, Sku: e.SKU, Reason: e.Reason,
			OnHandDelta: e.OnHandDelta, ReservedDelta: e.ReservedDelta, InTransitDelta: e.InTransitDelta,
			Reference: p.Reference, Actor: p.Actor,
		})
		if err != nil {
			return Result{}, classify(e, err)
		}
		res.Movements = append(res.Movements, m)
	}
	return res, nil
}

func classify(e Entry, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23514": // check_violation on a balance
			return &StockError{Warehouse: e.Warehouse, SKU: e.SKU, Constraint: pgErr.ConstraintName, err: ErrInsufficientStock}
		case "23503": // foreign_key_violation
			return &StockError{Warehouse: e.Warehouse, SKU: e.SKU, Constraint: pgErr.ConstraintName, err: ErrUnknownItem}
		}
	}
	return fmt.Errorf("inventory: post %s %s: %w", e.Warehouse, e.SKU, err)
}
