package devstack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	// temporalClusterName names the single cluster of the embedded server.
	temporalClusterName = "active"
	// temporalClusterID is fixed so that a file-backed server keeps the same
	// cluster identity across restarts.
	temporalClusterID = "5f1d6a44-1e1b-4b8e-9f0e-6d0c2b4d7e11"
	// namespaceRetention is how long closed workflows are kept in namespaces
	// the server creates (a dev database should not forget yesterday's work).
	namespaceRetention = 30 * 24 * time.Hour
	// namespaceRefresh is how often the server reloads namespaces (and so
	// search attribute aliases) from its database.
	namespaceRefresh = time.Second
	// temporalReadyTimeout bounds how long StartTemporal waits for the
	// frontend to answer.
	temporalReadyTimeout = time.Minute
)

// TemporalOptions configures StartTemporal.
type TemporalOptions struct {
	// DBFile is the SQLite file the server persists to, created on first use
	// (its directory must exist). Empty keeps everything in memory, lost on
	// Stop.
	DBFile string
	// IP is the address the frontend (and the UI) listen on. Default 127.0.0.1.
	IP string
	// FrontendPort is the frontend's gRPC port. 0 picks a free port.
	FrontendPort int
	// UIPort is the web UI's port. 0 runs no UI.
	UIPort int
	// Namespaces are created at start if missing; the first is the UI's
	// default. Default: "default".
	Namespaces []string
	// SearchAttributes are the custom search attributes registered on every
	// namespace, including namespaces created by an earlier run on DBFile.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger
	// LogLevel is the minimum level of server logs passed to Logger; the
	// server is noisy, so nil means slog.LevelWarn.
	LogLevel slog.Leveler
}

// Temporal is an embedded Temporal server (frontend, history, matching and
// worker services in this process, on SQLite), with its web UI optionally,
// started by StartTemporal.
type Temporal struct {
	server           temporal.Server
	ui               *uiserver.Server
	uiDone           chan struct{}
	address          string
	uiURL            string
	logger           *slog.Logger
	searchAttributes map[string]enumspb.IndexedValueType
	serverLog        *serverLogger
	stopOnce         sync.Once
}

// StartTemporal starts an embedded Temporal server and returns once its
// frontend answers and every namespace has opts.SearchAttributes registered.
// Stop it with Stop; ctx only bounds the start-up.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	start := time.Now()
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if len(opts.Namespaces) == 0 {
		opts.Namespaces = []string{"default"}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LogLevel == nil {
		opts.LogLevel = slog.LevelWarn
	}
	if opts.DBFile != "" {
		abs, err := filepath.Abs(opts.DBFile)
		if err != nil {
			return nil, fmt.Errorf("start temporal: db file: %w", err)
		}
		opts.DBFile = abs
	}

	// The server and the UI exit the whole process when they cannot listen
	// on a port: check first that they will be able to.
	for _, p := range []struct {
		what string
		port int
	}{{"frontend", opts.FrontendPort}, {"UI", opts.UIPort}} {
		if p.port == 0 {
			continue
		}
		l, err := net.Listen("tcp", hostPort(opts.IP, p.port))
		if err != nil {
			return nil, fmt.Errorf("start temporal: %s port %d unavailable (is another Temporal server running?): %w", p.what, p.port, err)
		}
		_ = l.Close()
	}
	ports, err := temporalPorts(opts)
	if err != nil {
		return nil, fmt.Errorf("start temporal: %w", err)
	}
	sqlConf, err := temporalSQLConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("start temporal: %w", err)
	}
	if err := createNamespaces(sqlConf, opts.Namespaces, opts.SearchAttributes); err != nil {
		return nil, fmt.Errorf("start temporal: %w", err)
	}

	logger := &serverLogger{logger: opts.Logger, level: opts.LogLevel, stopping: new(atomic.Bool)}
	server, err := temporal.NewServer(
		temporal.WithConfig(temporalConfig(opts.IP, ports, sqlConf)),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(hostPort(opts.IP, ports.frontend)),
			primitives.HistoryService:  static.SingleLocalHost(hostPort(opts.IP, ports.history)),
			primitives.MatchingService: static.SingleLocalHost(hostPort(opts.IP, ports.matching)),
			primitives.WorkerService:   static.SingleLocalHost(hostPort(opts.IP, ports.worker)),
		}),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return authorization.NewNoopClaimMapper() }),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
			dynamicconfig.EnableServerVersionCheck.Key():                     false,
			dynamicconfig.NamespaceCacheRefreshInterval.Key():                namespaceRefresh,
			dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8192,
			dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 1000,
			// RegisterNamespace and UpdateNamespace (AddSearchAttributes): 20/s by default.
			dynamicconfig.FrontendNamespaceReplicationInducingAPIsRPS.Key(): 1000,
			dynamicconfig.FrontendPersistenceMaxQPS.Key():                   100_000,
			dynamicconfig.HistoryPersistenceMaxQPS.Key():                    100_000,
			dynamicconfig.MatchingPersistenceMaxQPS.Key():                   100_000,
			dynamicconfig.WorkerPersistenceMaxQPS.Key():                     100_000,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("start temporal: new server: %w", err)
	}
	if err := server.Start(); err != nil {
		_ = server.Stop()
		return nil, fmt.Errorf("start temporal: %w", err)
	}
	t := &Temporal{
		server:           server,
		address:          hostPort(opts.IP, ports.frontend),
		logger:           opts.Logger,
		searchAttributes: maps.Clone(opts.SearchAttributes),
		serverLog:        logger,
	}
	if err := t.awaitReady(ctx, opts.Namespaces); err != nil {
		t.Stop()
		return nil, fmt.Errorf("start temporal: %w", err)
	}
	if opts.UIPort != 0 {
		if err := t.startUI(ctx, opts.IP, opts.UIPort, opts.Namespaces[0]); err != nil {
			t.Stop()
			return nil, fmt.Errorf("start temporal: %w", err)
		}
	}
	opts.Logger.Info("temporal: ready", "address", t.address, "ui", t.uiURL, "db_file", opts.DBFile, "took", time.Since(start).Round(time.Millisecond))
	return t, nil
}

// Address returns the frontend's gRPC address (host:port), for client.Options.HostPort.
func (t *Temporal) Address() string { return t.address }

// UIURL returns the web UI's base URL, or "" when it does not run.
func (t *Temporal) UIURL() string { return t.uiURL }

// AddNamespaces registers the given namespaces unless they exist, with the
// server's search attributes, and returns once they are usable (which takes
// a second or two, for the services to load the search attributes).
func (t *Temporal) AddNamespaces(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, temporalReadyTimeout)
	defer cancel()
	c, err := t.dial(ctx, names[0])
	if err != nil {
		return fmt.Errorf("add namespaces: %w", err)
	}
	defer c.Close()
	for _, name := range names {
		err := retryThrottled(ctx, func(ctx context.Context) error {
			_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
				Namespace:                        name,
				WorkflowExecutionRetentionPeriod: durationpb.New(namespaceRetention),
			})
			return err
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("add namespace %q: %w", name, err)
		}
	}
	if err := syncSearchAttributes(ctx, c, names, t.searchAttributes); err != nil {
		return fmt.Errorf("add namespaces: %w", err)
	}
	return nil
}

// Stop stops the UI and the server. It is safe to call more than once.
func (t *Temporal) Stop() {
	t.stopOnce.Do(func() {
		// Stopping services make their peers log connection warnings by
		// the dozen, during Stop and for a few seconds after.
		t.serverLog.stopping.Store(true)
		if t.ui != nil {
			t.ui.Stop()
			<-t.uiDone
		}
		if err := t.server.Stop(); err != nil {
			t.logger.Warn("temporal: stop", "error", err)
		}
	})
}

// temporalPortSet holds the ports of the server's services.
type temporalPortSet struct {
	frontend, frontendHTTP, history, matching, worker int
}

// temporalPorts picks the ports of the services, free ones where not given.
func temporalPorts(opts TemporalOptions) (temporalPortSet, error) {
	ps := temporalPortSet{frontend: opts.FrontendPort}
	for _, p := range []*int{&ps.frontend, &ps.frontendHTTP, &ps.history, &ps.matching, &ps.worker} {
		if *p != 0 {
			continue
		}
		port, err := freePort(opts.IP)
		if err != nil {
			return ps, err
		}
		*p = port
	}
	return ps, nil
}

// temporalSQLConfig returns the SQLite persistence config and, for a new
// database file, creates its schema.
func temporalSQLConfig(opts TemporalOptions) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if opts.DBFile == "" {
		// A shared-cache in-memory database lives as long as a connection to
		// it is open: the plugin keeps one for the life of the process. The
		// name must be unique per server in this process.
		conf.DatabaseName = "devstack-" + strconv.FormatUint(rand.Uint64(), 36)
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		return conf, nil
	}
	conf.DatabaseName = opts.DBFile
	conf.ConnectAttributes = map[string]string{
		"mode":         "rwc",
		"journal_mode": "wal",
		"synchronous":  "normal",
	}
	if _, err := os.Stat(opts.DBFile); err == nil {
		return conf, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("db file: %w", err)
	}
	if _, err := os.Stat(filepath.Dir(opts.DBFile)); err != nil {
		return nil, fmt.Errorf("db file directory: %w", err)
	}
	if err := sqliteschema.SetupSchema(conf); err != nil {
		// Leave no half-made file behind, so the next run starts afresh.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(opts.DBFile + suffix)
		}
		return nil, fmt.Errorf("create schema in %s: %w", opts.DBFile, err)
	}
	return conf, nil
}

// createNamespaces creates the namespaces missing from the database, with
// the search attributes; existing namespaces are left as they are.
func createNamespaces(conf *config.SQL, names []string, searchAttributes map[string]enumspb.IndexedValueType) error {
	nsConfigs := make([]*sqliteschema.NamespaceConfig, 0, len(names))
	for _, name := range names {
		nsConfig, err := sqliteschema.NewNamespaceConfig(temporalClusterName, name, false, searchAttributes)
		if err != nil {
			return fmt.Errorf("namespace %q: %w", name, err)
		}
		nsConfig.Detail.Config.Retention = durationpb.New(namespaceRetention)
		nsConfigs = append(nsConfigs, nsConfig)
	}
	if err := sqliteschema.CreateNamespaces(conf, nsConfigs...); err != nil {
		return fmt.Errorf("create namespaces: %w", err)
	}
	return nil
}

// temporalConfig returns the static server config.
func temporalConfig(ip string, ports temporalPortSet, sqlConf *config.SQL) *config.Config {
	service := func(port, httpPort int) config.Service {
		var s config.Service
		s.RPC.BindOnIP = ip
		s.RPC.GRPCPort = port
		s.RPC.HTTPPort = httpPort
		return s
	}
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = ip
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        temporalClusterName,
		CurrentClusterName:       temporalClusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			temporalClusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             hostPort(ip, ports.frontend),
				HTTPAddress:            hostPort(ip, ports.frontendHTTP),
				ClusterID:              temporalClusterID,
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): service(ports.frontend, ports.frontendHTTP),
		string(primitives.HistoryService):  service(ports.history, 0),
		string(primitives.MatchingService): service(ports.matching, 0),
		string(primitives.WorkerService):   service(ports.worker, 0),
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = hostPort(ip, ports.frontend)
	return conf
}

// awaitReady waits until the frontend serves every namespace, then makes
// sure each has the search attributes.
func (t *Temporal) awaitReady(ctx context.Context, namespaces []string) error {
	ctx, cancel := context.WithTimeout(ctx, temporalReadyTimeout)
	defer cancel()
	c, err := t.dial(ctx, namespaces[0])
	if err != nil {
		return err
	}
	defer c.Close()
	for _, ns := range namespaces {
		err := retry(ctx, func(ctx context.Context) error {
			_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
			return err
		})
		if err != nil {
			return fmt.Errorf("namespace %q not served: %w", ns, err)
		}
	}
	return syncSearchAttributes(ctx, c, namespaces, t.searchAttributes)
}

// dial connects a quiet client to the frontend, retrying until it answers.
func (t *Temporal) dial(ctx context.Context, namespace string) (client.Client, error) {
	var c client.Client
	err := retry(ctx, func(ctx context.Context) (err error) {
		c, err = client.DialContext(ctx, client.Options{
			HostPort:  t.address,
			Namespace: namespace,
			Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("frontend %s not answering: %w", t.address, err)
	}
	return c, nil
}

// syncSearchAttributes registers on each namespace the search attributes it
// lacks (a database file may predate some), and waits until the server
// accepts them in queries.
func syncSearchAttributes(ctx context.Context, c client.Client, namespaces []string, want map[string]enumspb.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	added := map[string][]string{}
	for _, ns := range namespaces {
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		if err != nil {
			return fmt.Errorf("list search attributes of namespace %q: %w", ns, err)
		}
		missing := map[string]enumspb.IndexedValueType{}
		for name, typ := range want {
			have, ok := resp.GetCustomAttributes()[name]
			if !ok {
				missing[name] = typ
				continue
			}
			if have != typ {
				return fmt.Errorf("namespace %q: search attribute %q is registered as %v, not %v; "+
					"a type cannot be changed in place: use a new name, or start from a fresh database", ns, name, have, typ)
			}
		}
		if len(missing) == 0 {
			continue
		}
		err = retryThrottled(ctx, func(ctx context.Context) error {
			_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
				Namespace:        ns,
				SearchAttributes: missing,
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("add search attributes %v to namespace %q: %w", slices.Sorted(maps.Keys(missing)), ns, err)
		}
		added[ns] = slices.Sorted(maps.Keys(missing))
	}
	if len(added) == 0 {
		return nil
	}
	// Each service reads the new aliases when it next reloads namespaces:
	// wait until the frontend accepts them in a query, then for one more
	// reload, so history (which validates upserts) has them too.
	for ns, names := range added {
		conds := make([]string, len(names))
		for i, name := range names {
			conds[i] = "`" + name + "` IS NULL"
		}
		query := strings.Join(conds, " AND ")
		err := retry(ctx, func(ctx context.Context) error {
			_, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: ns, Query: query})
			return err
		})
		if err != nil {
			return fmt.Errorf("search attributes %v added to namespace %q but not usable: %w", names, ns, err)
		}
	}
	select {
	case <-time.After(2 * namespaceRefresh):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// startUI starts the web UI on ip:port and waits until it answers.
func (t *Temporal) startUI(ctx context.Context, ip string, port int, defaultNamespace string) error {
	ctx, cancel := context.WithTimeout(ctx, temporalReadyTimeout)
	defer cancel()
	t.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                ip,
		Port:                port,
		TemporalGRPCAddress: t.address,
		EnableUI:            true,
		DefaultNamespace:    defaultNamespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
	}))
	t.uiDone = make(chan struct{})
	go func() {
		defer close(t.uiDone)
		if err := t.ui.Start(); err != nil {
			t.logger.Error("temporal: ui server", "error", err)
		}
	}()
	t.uiURL = "http://" + hostPort(ip, port)
	err := retry(ctx, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.uiURL+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ui health: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ui %s not answering: %w", t.uiURL, err)
	}
	return nil
}

// retry calls f, with a short timeout per attempt, until it succeeds or ctx
// is done; it then returns the last error.
func retry(ctx context.Context, f func(context.Context) error) error {
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(attemptCtx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// retryThrottled calls f until it succeeds, fails other than by being rate
// limited, or ctx is done.
func retryThrottled(ctx context.Context, f func(context.Context) error) error {
	for {
		err := f(ctx)
		var exhausted *serviceerror.ResourceExhausted
		if !errors.As(err, &exhausted) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// hostPort joins ip and port.
func hostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// serverLogger adapts a slog.Logger to the server's logger interface.
type serverLogger struct {
	logger   *slog.Logger
	level    slog.Leveler
	stopping *atomic.Bool // once set, only errors are logged; shared with derived loggers
}

var (
	_ log.Logger     = (*serverLogger)(nil)
	_ log.WithLogger = (*serverLogger)(nil)
)

func (l *serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < l.level.Level() || (l.stopping.Load() && level < slog.LevelError) ||
		!l.logger.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, len(tags))
	for i, t := range tags {
		attrs[i] = slog.Any(t.Key(), t.Value())
	}
	l.logger.LogAttrs(context.Background(), level, msg, attrs...)
}

// Debug implements log.Logger.
func (l *serverLogger) Debug(msg string, tags ...tag.Tag) { l.log(slog.LevelDebug, msg, tags) }

// Info implements log.Logger.
func (l *serverLogger) Info(msg string, tags ...tag.Tag) { l.log(slog.LevelInfo, msg, tags) }

// Warn implements log.Logger.
func (l *serverLogger) Warn(msg string, tags ...tag.Tag) { l.log(slog.LevelWarn, msg, tags) }

// Error implements log.Logger.
func (l *serverLogger) Error(msg string, tags ...tag.Tag) { l.log(slog.LevelError, msg, tags) }

// DPanic implements log.Logger; like zap in production, it does not panic.
func (l *serverLogger) DPanic(msg string, tags ...tag.Tag) { l.log(slog.LevelError, msg, tags) }

// Panic implements log.Logger.
func (l *serverLogger) Panic(msg string, tags ...tag.Tag) {
	l.log(slog.LevelError, msg, tags)
	panic(msg)
}

// Fatal implements log.Logger: it logs and exits the process, as the
// server expects.
func (l *serverLogger) Fatal(msg string, tags ...tag.Tag) {
	l.log(slog.LevelError, msg, tags)
	os.Exit(1)
}

// With implements log.WithLogger.
func (l *serverLogger) With(tags ...tag.Tag) log.Logger {
	args := make([]any, len(tags))
	for i, t := range tags {
		args[i] = slog.Any(t.Key(), t.Value())
	}
	return &serverLogger{logger: l.logger.With(args...), level: l.level, stopping: l.stopping}
}
