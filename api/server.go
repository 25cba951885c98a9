// Package api is the HTTP API of the back office: echo handlers that start,
// update and query workflows and read and write the PostgreSQL tables. Every
// /v1 route needs a bearer token and checks the caller's role and scope.
// Errors are RFC 9457 problem+json.
package api

import (
	"context"
	_ "embed" // the OpenAPI document
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/alliance/backoffice/db/dbgen"
	"github.com/alliance/backoffice/internal/auth"
	"github.com/alliance/backoffice/internal/inventory"
	"github.com/alliance/backoffice/workflows"
)

//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPI returns the OpenAPI 3 document of the API, as served at /openapi.yaml.
func OpenAPI() []byte { return openAPISpec }

// Deps is what the API needs to run.
type Deps struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	Logger   *slog.Logger
	// Registry receives the HTTP metrics and is served at /metrics (with
	// whatever else is registered on it, such as the Temporal SDK's).
	Registry *prometheus.Registry
	// RequestTimeout bounds each request (default 30 s).
	RequestTimeout time.Duration
	// TransferTimeouts are the approval deadlines of new stock transfers
	// (zero: workflows.DefaultTransferTimeouts, 12 h / 24 h / 48 h).
	TransferTimeouts workflows.TransferTimeouts
}

type server struct {
	pool     *pgxpool.Pool
	q        *dbgen.Queries
	temporal client.Client
	logger   *slog.Logger
	auth     *auth.Authenticator
	ledger   *inventory.Ledger

	transferTimeouts workflows.TransferTimeouts
}

// New builds the echo server with every route and middleware.
func New(d Deps) (*echo.Echo, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = 30 * time.Second
	}
	s := &server{
		pool: d.Pool, q: dbgen.New(d.Pool), temporal: d.Temporal, logger: d.Logger,
		auth: auth.NewAuthenticator(d.Pool), ledger: inventory.NewLedger(d.Pool),
	}
	tt, err := transferTimeouts(d.TransferTimeouts)
	if err != nil {
		return nil, err
	}
	s.transferTimeouts = tt

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Server.ReadHeaderTimeout = 10 * time.Second
	e.HTTPErrorHandler = errorHandler(d.Logger)

	metrics, err := echoprometheus.MiddlewareConfig{
		Namespace: "backoffice", Subsystem: "http", Registerer: d.Registry,
		DoNotUseRequestPathFor404: true,
	}.ToMiddleware()
	if err != nil {
		return nil, err
	}
	e.Use(middleware.RequestID())
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogMethod: true, LogURI: true, LogRoutePath: true, LogLatency: true,
		LogRequestID: true, LogError: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("request_id", v.RequestID), slog.String("method", v.Method),
				slog.String("uri", v.URI), slog.String("route", v.RoutePath),
				slog.Int("status", v.Status), slog.Duration("latency", v.Latency),
			}
			if p, ok := c.Get(principalKey).(auth.Principal); ok {
				attrs = append(attrs, slog.Int64("user_id", p.UserID), slog.String("role", string(p.Role)))
			}
			d.Logger.LogAttrs(c.Request().Context(), level, "http request", attrs...)
			return nil
		},
	}))
	e.Use(middleware.Recover())
	e.Use(metrics)
	e.Use(middleware.BodyLimit("1M"))
	e.Use(middleware.ContextTimeout(d.RequestTimeout))

	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: d.Registry}))
	e.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml", openAPISpec)
	})

	v1 := e.Group("/v1", s.authenticate)
	v1.GET("/me", s.me)
	s.masterDataRoutes(v1)
	s.inventoryRoutes(v1)
	s.transferRoutes(v1)
	s.orderRoutes(v1)
	s.returnRoutes(v1)
	s.campaignRoutes(v1)
	s.certificationRoutes(v1)
	s.rebateRoutes(v1)
	s.ledgerRoutes(v1)
	return e, nil
}

// readyz reports ready only when PostgreSQL and Temporal both answer.
func (s *server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"postgres": "ok", "temporal": "ok"}
	ready := true
	if err := s.pool.Ping(ctx); err != nil {
		checks["postgres"], ready = err.Error(), false
	}
	if s.temporal == nil {
		checks["temporal"], ready = "not configured", false
	} else if _, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], ready = err.Error(), false
	}
	if !ready {
		p := errUnavailable("a dependency is not ready")
		c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
		return c.JSON(http.StatusServiceUnavailable, struct {
			*Problem
			Checks map[string]string `json:"checks"`
		}{p, checks})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}

const principalKey = "principal"

// authenticate resolves the bearer token to a principal, or answers 401.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, token, ok := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="backoffice"`)
			return errUnauthorized("send Authorization: Bearer <token>")
		}
		p, err := s.auth.Authenticate(c.Request().Context(), token)
		if errors.Is(err, auth.ErrUnauthenticated) {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="backoffice", error="invalid_token"`)
			return errUnauthorized("the token is unknown or revoked")
		}
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// principal returns the authenticated caller (set by authenticate).
func principal(c echo.Context) auth.Principal {
	p, _ := c.Get(principalKey).(auth.Principal)
	return p
}

// allow answers 403 unless the caller has one of roles.
func allow(c echo.Context, roles ...auth.Role) (auth.Principal, error) {
	p := principal(c)
	if !p.Is(roles...) {
		return p, errForbidden("the " + string(p.Role) + " role may not do this")
	}
	return p, nil
}

func (s *server) me(c echo.Context) error {
	return c.JSON(http.StatusOK, principal(c))
}
