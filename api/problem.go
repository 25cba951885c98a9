package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/temporal"

	"github.com/alliance/backoffice/workflows"
)

// Problem is an RFC 9457 problem details body (application/problem+json).
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// RequestID lets a caller quote the request to support.
	RequestID string `json:"request_id,omitempty"`
}

// FieldError names one invalid field of a request and what is wrong with it.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error implements error so handlers can return a *Problem.
func (p *Problem) Error() string {
	if p.Detail != "" {
		return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Title)
}

const problemBase = "https://alliance.example/problems/"

func problem(status int, kind, title, detail string) *Problem {
	return &Problem{Type: problemBase + kind, Title: title, Status: status, Detail: detail}
}

// Problems the handlers return.
func errBadRequest(detail string) *Problem {
	return problem(http.StatusBadRequest, "bad-request", "Bad request", detail)
}
func errUnauthorized(detail string) *Problem {
	return problem(http.StatusUnauthorized, "unauthorized", "Unauthorized", detail)
}
func errForbidden(detail string) *Problem {
	return problem(http.StatusForbidden, "forbidden", "Forbidden", detail)
}
func errNotFound(detail string) *Problem {
	return problem(http.StatusNotFound, "not-found", "Not found", detail)
}
func errConflict(detail string) *Problem {
	return problem(http.StatusConflict, "conflict", "Conflict", detail)
}
func errInvalid(errs ...FieldError) *Problem {
	p := problem(http.StatusUnprocessableEntity, "validation", "Invalid request", "one or more fields are invalid")
	p.Errors = errs
	return p
}
func errUnavailable(detail string) *Problem {
	return problem(http.StatusServiceUnavailable, "unavailable", "Service unavailable", detail)
}

// errorHandler renders every error as problem+json and logs server errors
// with the request ID.
func errorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := toProblem(err)
		p.Instance = c.Request().URL.Path
		p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
		if p.Status >= 500 {
			logger.ErrorContext(c.Request().Context(), "request failed",
				slog.String("request_id", p.RequestID), slog.String("path", p.Instance), slog.Any("error", err))
		}
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		c.Response().WriteHeader(p.Status)
		if c.Request().Method == http.MethodHead {
			return
		}
		_ = writeJSON(c.Response(), p)
	}
}

func toProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		cp := *p
		return &cp
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		detail := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			detail = m
		}
		switch he.Code {
		case http.StatusNotFound:
			return errNotFound(detail)
		case http.StatusMethodNotAllowed:
			return problem(he.Code, "method-not-allowed", "Method not allowed", detail)
		case http.StatusRequestEntityTooLarge:
			return problem(he.Code, "too-large", "Request body too large", detail)
		case http.StatusUnauthorized:
			return errUnauthorized(detail)
		}
		return problem(he.Code, "http", http.StatusText(he.Code), detail)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound("no such resource")
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return errConflict("already exists")
		case "23503":
			return errConflict("refers to something that does not exist or is still in use")
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errUnavailable("the request took too long")
	}
	return problem(http.StatusInternalServerError, "internal", "Internal server error", "an unexpected error occurred; quote the request_id to support")
}

// updateRejection maps a Temporal Update's validator rejection (an
// application error of type workflows.ErrTypeForbidden, ErrTypeConflict or
// ErrTypeInvalid) to its problem: 403, 409 or 422 — a 422 names the fields
// the rejection details carry ({field, detail} pairs), else the body. It
// returns nil when err is no such rejection.
func updateRejection(err error) error {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return nil
	}
	switch appErr.Type() {
	case workflows.ErrTypeForbidden:
		return errForbidden(appErr.Message())
	case workflows.ErrTypeConflict:
		return errConflict(appErr.Message())
	case workflows.ErrTypeInvalid:
		var fields []FieldError
		if derr := appErr.Details(&fields); derr != nil || len(fields) == 0 {
			return errInvalid(FieldError{Field: "body", Detail: appErr.Message()})
		}
		return errInvalid(fields...)
	}
	return nil
}
