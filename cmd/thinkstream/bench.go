package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/thinkstream/thinkstream/bench"
)

func cmdBench(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "soak" {
		return cmdBenchSoak(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "engine" {
		return cmdBenchEngine(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "nats" {
		return cmdBenchNATS(ctx, e, args[1:])
	}
	if len(args) == 0 || args[0] != "fanout" {
		fmt.Fprintln(e.stderr, "Usage: thinkstream bench fanout --viewers N --rate R [--events E | --duration D] [--gateways G] [--json]")
		fmt.Fprintln(e.stderr, "       thinkstream bench engine --model FILE [--prompt N] [--gen N] [--threads T] [--reps R] [--json]")
		fmt.Fprintln(e.stderr, "       thinkstream bench soak [--scenario all|long,storm,kill,annotate,lock,damage] [--short] [--json]")
		return errUsage
	}
	return cmdBenchFanout(ctx, e, args[1:])
}

// cmdBenchFanout starts `thinkstream serve` as a child process (so its CPU
// and memory are measured apart from the viewers'), paces one sim run at
// --rate tokens/s and follows it with --viewers SSE connections.
func cmdBenchFanout(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("bench fanout", flag.ContinueOnError)
	setUsage(fs, e.stderr, "bench fanout [flags]", "Measures fan-out: a server process, many loopback SSE viewers of one run (docs/benchmarks.md).")
	fs.SetOutput(e.stderr)
	viewers := fs.Int("viewers", 1000, "SSE viewers of the run")
	rate := fs.Float64("rate", 100, "tokens (≈ events) per second of the run")
	events := fs.Int("events", 0, "run length in tokens; the benchmark ends with the run (0: use --duration)")
	duration := fs.Duration("duration", 20*time.Second, "measurement window when --events is 0")
	settle := fs.Duration("settle", time.Second, "pause after the last viewer connected before measuring")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	serverBin := fs.String("server-bin", "", "thinkstream binary to run as the server (default: this one)")
	remote := fs.String("remote", "", "benchmark the server at this URL instead of starting one (its sim rate applies, not --rate)")
	remotePID := fs.Int("remote-pid", 0, "with --remote on this machine: the server's pid, to read its CPU and memory")
	useTLS := fs.Bool("tls", false, "serve over TLS (throwaway certificate); viewers use HTTP/1.1 over TLS")
	useH2 := fs.Bool("http2", false, "with --tls: viewers share HTTP/2 connections")
	serverCPUs := fs.String("server-cpus", "", "run the server pinned to these CPUs (taskset -c list, e.g. 0), to find where one core saturates")
	gateways := fs.Int("gateways", 1, "servers sharing one NATS (a child `bench nats` process); the viewers are spread over them")
	sharedNATS := fs.Bool("nats", false, "with --gateways 1: the server uses a separate NATS process too (to compare with --gateways N alone)")
	if err := parseFlags(fs, args, e.getenv, nil); err != nil {
		return err
	}
	if *gateways < 1 || *gateways > 1 && (*remote != "" || *useTLS) {
		return fmt.Errorf("bench: --gateways must be at least 1, and 1 with --remote or --tls: %w", errUsage)
	}
	limit, err := bench.RaiseFileLimit()
	if err != nil {
		return fmt.Errorf("bench: raise the open-file limit: %w", err)
	}
	if need := uint64(*viewers) + 256; limit < need {
		return fmt.Errorf("bench: the open-file limit is %d, %d viewers need about %d", limit, *viewers, need)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(e.stderr, "bench: "+format+"\n", a...) }
	exe := *serverBin
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	var srv bench.Server
	var more []bench.Server
	var logSrv bench.Server
	var pool *x509.CertPool
	if *remote != "" {
		srv = bench.Remote{BaseURL: strings.TrimRight(*remote, "/"), PID: *remotePID}
		logf("server at %s (pid %d); %d viewers at the server's own rate", *remote, *remotePID, *viewers)
	} else {
		var extra []string
		if *gateways > 1 || *sharedNATS {
			n, err := startBenchNATS(ctx, e, exe)
			if err != nil {
				return err
			}
			defer n.Close()
			logSrv, extra = n, []string{"--nats-url", n.URL()}
			logf("nats pid %d at %s", n.PID, n.URL())
		}
		for i := range *gateways {
			p, err := startBenchServer(ctx, e, exe, *rate, *serverCPUs, *useTLS, extra...)
			if err != nil {
				return err
			}
			defer p.Close()
			if i == 0 {
				srv, pool = p, p.pool
			} else {
				more = append(more, p)
			}
			if *gateways == 1 {
				logf("server pid %d at %s", p.PID, p.URL())
			} else {
				logf("server %d: pid %d at %s", i+1, p.PID, p.URL())
			}
		}
		logf("%d viewers, %.0f events/s", *viewers, *rate)
	}
	cfg := bench.FanoutConfig{
		Viewers: *viewers, Events: *events, Duration: *duration, Settle: *settle, Logf: logf,
		RootCAs: pool, HTTP2: *useH2, Gateways: more,
	}
	if logSrv != nil {
		cfg.Log = logSrv
	}
	res, err := bench.Fanout(ctx, srv, cfg)
	if err != nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
		return exactness(res)
	}
	printFanout(e, res)
	return exactness(res)
}

// exactness fails the command when a viewer missed, repeated or reordered
// an event.
func exactness(res bench.FanoutResult) error {
	if res.Failed > 0 || res.Lost > 0 || res.Duplicated > 0 || res.Reordered > 0 {
		return fmt.Errorf("bench: delivery was not exact (%d failed viewers, first error: %s)", res.Failed, res.FirstError)
	}
	return nil
}

// startBenchServer runs `thinkstream serve` as a child process with a
// steady sim engine (no jitter, no time to first token) and a fresh data
// directory, removed when the process is closed.
func startBenchServer(ctx context.Context, e *env, exe string, rate float64, cpus string, useTLS bool, extra ...string) (*benchServer, error) {
	dir, err := os.MkdirTemp("", "thinkstream-bench-")
	if err != nil {
		return nil, err
	}
	argv := []string{exe, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir,
		"--sim-rate", strconv.FormatFloat(rate, 'f', -1, 64), "--sim-jitter", "-1", "--sim-ttft", "-1s",
		"--max-tokens", "40960", "--log-level", "warn", "--shutdown-grace", "0s"}
	argv = append(argv, extra...)
	var pool *x509.CertPool
	if useTLS {
		certFile, keyFile, p, err := bench.SelfSigned(dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		pool = p
		argv = append(argv, "--tls-cert", certFile, "--tls-key", keyFile)
	}
	if cpus != "" {
		// taskset execs the server in its own process, so the pid read
		// for CPU and memory stays the server's.
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	s, err := startChild(ctx, e, dir, argv)
	if err != nil {
		return nil, err
	}
	s.pool = pool
	return s, nil
}

// startBenchNATS runs `thinkstream bench nats` as a child process: a NATS
// server with JetStream on a loopback port for the benchmark's servers to
// share, its CPU read apart from theirs. exe is the thinkstream binary.
func startBenchNATS(ctx context.Context, e *env, exe string) (*benchServer, error) {
	dir, err := os.MkdirTemp("", "thinkstream-bench-nats-")
	if err != nil {
		return nil, err
	}
	return startChild(ctx, e, dir, []string{exe, "bench", "nats", "--store", dir})
}

// startChild starts argv, which keeps its files in dir, and waits (a
// minute at most) for it to say where it listens; dir is removed when it
// fails to start or is closed.
func startChild(ctx context.Context, e *env, dir string, argv []string) (*benchServer, error) {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p, err := bench.StartProcess(sctx, argv, e.stderr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &benchServer{Process: p, dir: dir}, nil
}

// cmdBenchNATS serves NATS with JetStream on a free loopback port until
// stopped, for `bench fanout --gateways`: it prints "listening on URL".
func cmdBenchNATS(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("bench nats", flag.ContinueOnError)
	setUsage(fs, e.stderr, "bench nats --store DIR", "Serves NATS JetStream on a loopback port for the fan-out benchmark's servers.")
	fs.SetOutput(e.stderr)
	store := fs.String("store", "", "JetStream's directory (required)")
	if err := parseFlags(fs, args, e.getenv, nil); err != nil {
		return err
	}
	if *store == "" {
		return fmt.Errorf("bench nats: --store is required: %w", errUsage)
	}
	ns, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: *store, NoLog: true, NoSigs: true,
	})
	if err != nil {
		return fmt.Errorf("bench nats: %w", err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(30 * time.Second) {
		return errors.New("bench nats: not ready in 30s")
	}
	fmt.Fprintf(e.stdout, "listening on %s\n", ns.ClientURL())
	<-ctx.Done()
	return nil
}

// benchServer is the child server and its data directory.
type benchServer struct {
	*bench.Process
	dir  string
	pool *x509.CertPool // trusts the server's certificate with --tls
}

func (s *benchServer) Close() error {
	err := s.Process.Close()
	os.RemoveAll(s.dir)
	return err
}

func printFanout(e *env, r bench.FanoutResult) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	w := e.stdout
	fmt.Fprintf(w, "viewers            %d (%d failed), connected in %v\n", r.Viewers, r.Failed, r.ConnectTime.Round(time.Millisecond))
	fmt.Fprintf(w, "run                %d events at %.1f events/s\n", r.Events, r.EventRate)
	fmt.Fprintf(w, "window             %v\n", r.Window.Round(time.Millisecond))
	fmt.Fprintf(w, "delivered          %d events (%d in the window)\n", r.Delivered, r.DeliveredInWindow)
	fmt.Fprintf(w, "lost / dup / reord %d / %d / %d (%d viewers with loss)\n", r.Lost, r.Duplicated, r.Reordered, r.ViewersWithLoss)
	if r.LatencySamples == 0 {
		fmt.Fprintln(w, "latency            none measured: no event was created in the window (raise --events or use --duration)")
	} else {
		fmt.Fprintf(w, "latency            p50 %s  p99 %s  p99.9 %s  max %s  (%d samples)\n", ms(r.P50), ms(r.P99), ms(r.P999), ms(r.Max), r.LatencySamples)
		fmt.Fprintf(w, "first viewer       p50 %s  p99 %s  (latency to the first viewer that got each event)\n", ms(r.FirstP50), ms(r.FirstP99))
	}
	if r.ServerLagWrites > 0 {
		fmt.Fprintf(w, "server-side lag    p50 ≤ %s  p99 ≤ %s  (publication → write, its histogram's buckets, %.0f writes)\n",
			ms(r.ServerLagP50), ms(r.ServerLagP99), r.ServerLagWrites)
	}
	if !r.ServerKnown {
		fmt.Fprintln(w, "server CPU, memory unknown (give --remote-pid for a server on this machine)")
	} else if r.DeliveredInWindow > 0 && r.Window > 0 {
		fmt.Fprintf(w, "server CPU         %.2f s in the window = %.2f µs per delivered event (%.0f%% of a core)\n",
			r.ServerCPU.Seconds(), r.CPUPerEventUS, 100*r.ServerCPU.Seconds()/r.Window.Seconds())
	}
	if r.ServerKnown {
		fmt.Fprintf(w, "server memory      RSS %.1f MB now, peak (VmHWM) %.1f MB\n", float64(r.ServerRSS)/1e6, float64(r.ServerPeakRSS)/1e6)
	}
	for i, c := range r.GatewayCPU {
		role := "generates the run"
		if i > 0 {
			role = "follows it from the log"
		}
		fmt.Fprintf(w, "  server %d         %d viewers, %.2f s CPU (%.0f%% of a core); %s\n",
			i+1, r.GatewayViewers[i], c.Seconds(), 100*c.Seconds()/max(r.Window.Seconds(), 1e-9), role)
	}
	if r.LogCPU >= 0 {
		fmt.Fprintf(w, "nats (shared)      %.2f s CPU in the window (not counted above)\n", r.LogCPU.Seconds())
	}
	if r.ClientCPU > 0 {
		fmt.Fprintf(w, "client CPU         %.2f s in the window (viewers, not counted above)\n", r.ClientCPU.Seconds())
	}
	if sec := r.Window.Seconds(); sec > 0 {
		fmt.Fprintf(w, "machine            %d cores; other processes used %.2f cores on average in the window\n", r.Cores, r.OtherCPU.Seconds()/sec)
	}
}
