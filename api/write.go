package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/alliance/backoffice/db/dbgen"
)

// write runs fn in a transaction and records an audit event for the change
// in the same transaction: the change and its audit row land together or
// not at all.
func (s *server) write(c echo.Context, action, entity, key string, payload any, fn func(q *dbgen.Queries) error) error {
	ctx := c.Request().Context()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := dbgen.New(tx)
		if err := fn(q); err != nil {
			return err
		}
		return audit(ctx, q, c, action, entity, key, payload)
	})
	return dbError(err, entity, key)
}

func audit(ctx context.Context, q *dbgen.Queries, c echo.Context, action, entity, key string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("audit payload: %w", err)
	}
	uid := principal(c).UserID
	return q.InsertAuditEvent(ctx, dbgen.InsertAuditEventParams{
		UserID: &uid, RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
		Action: action, Entity: entity, EntityKey: key, Payload: body,
	})
}

// dbError turns database errors of a write into precise problems: a
// duplicate key is a 409, a reference to a missing row a 422 naming the
// field, a missing row a 404.
func dbError(err error, entity, key string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound(fmt.Sprintf("%s %q does not exist", entity, key))
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return errConflict(fmt.Sprintf("%s %q already exists", entity, key))
		case "23503":
			field := strings.TrimSuffix(strings.TrimPrefix(pgErr.ConstraintName, pgErr.TableName+"_"), "_fkey")
			if pgErr.TableName != entityTable(entity) {
				return errConflict(fmt.Sprintf("%s %q is still referenced by %s", entity, key, pgErr.TableName))
			}
			return errInvalid(FieldError{Field: field, Detail: "refers to something that does not exist"})
		case "23514":
			return errInvalid(FieldError{Field: pgErr.ConstraintName, Detail: "violates a rule of the data: " + pgErr.Message})
		}
	}
	return err
}

func entityTable(entity string) string {
	switch entity {
	case "ba":
		return "bas"
	case "grade_policy":
		return "grade_policies"
	}
	return entity + "s"
}
