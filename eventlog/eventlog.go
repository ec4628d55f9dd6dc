// Package eventlog is the durable log of every run's events and the store of
// run metadata, on NATS JetStream: an embedded server with file storage by
// default, or an external NATS when a URL is given.
//
// All runs share one stream; a run's events are the messages on its subject
// (runs.<id>), each carrying its per-run sequence number in a header. The
// per-run sequence is dense and 1-based and is assigned by the single writer
// of a run (the run manager). Writes carry a message id of run+seq so a
// retried publish is deduplicated by JetStream instead of logged twice.
package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream"
)

const (
	streamName = "THINKSTREAM_EVENTS"
	bucketName = "thinkstream_runs"
	seqHeader  = "Ts-Seq"
	typeHeader = "Ts-Type"
	timeHeader = "Ts-T"
	rawHeader  = "Ts-Raw" // Record.Raw as a JSON array (no CR or LF in it)
	// indexEvery is the spacing of the sparse per-run index of stream
	// sequences: a read positions within indexEvery messages of its start
	// without scanning the run from the beginning.
	indexEvery = 256
)

// ErrNotFound is returned for unknown runs.
var ErrNotFound = thinkstream.ErrRunNotFound

// Config configures the log. Zero values are documented defaults.
type Config struct {
	// DataDir holds JetStream's files (embedded server only). Required
	// unless URL is set.
	DataDir string
	// URL of an external NATS server with JetStream; empty runs an
	// embedded server with no network listener.
	URL string
	// MaxAge drops events and runs older than this (0 = keep forever).
	MaxAge time.Duration
	// MaxBytes caps the event stream's size; oldest runs go first (0 = no cap).
	MaxBytes int64
	Logger   *slog.Logger
	// KeepLimits uses an existing stream and bucket as they are instead
	// of applying MaxAge and MaxBytes to them (for doctor, which must
	// not change what a server configured).
	KeepLimits bool
	// Replicas of the stream and bucket on a NATS cluster (default 1; 3
	// keeps the log through the loss of one node of three).
	Replicas int
}

// Record is one logged event (see thinkstream.Record).
type Record = thinkstream.Record

// Log is the event log and run store.
type Log struct {
	ns     *server.Server // nil with an external NATS
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	log    *slog.Logger
	dir    string // embedded server's data dir; "" with an external NATS

	// closed is closed with the connection: appends waiting for acks
	// that can no longer come fail then, not at their timeout.
	closed chan struct{}

	mu    sync.Mutex
	index map[string][]uint64 // run id → stream seq of per-run seq 1, 1+indexEvery, …
	// ids is the last list of run ids, valid while the bucket's stream
	// state is idsMark (see RunIDs).
	ids     []string
	idsMark [3]uint64
}

// Open starts (or connects to) NATS and makes sure the stream and bucket exist.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	l := &Log{log: cfg.Logger, index: make(map[string][]uint64), closed: make(chan struct{})}
	onClose := nats.ClosedHandler(func(*nats.Conn) { close(l.closed) })
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if cfg.URL == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("eventlog: a data dir is required for the embedded server")
		}
		opts := &server.Options{
			ServerName: "thinkstream",
			JetStream:  true,
			StoreDir:   cfg.DataDir,
			DontListen: true,
			NoSigs:     true,
			NoLog:      true,
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			return nil, fmt.Errorf("eventlog: start embedded nats: %w", err)
		}
		ns.Start()
		if !ns.ReadyForConnections(30 * time.Second) {
			ns.Shutdown()
			return nil, errors.New("eventlog: embedded nats did not become ready")
		}
		l.ns, l.dir = ns, cfg.DataDir
		nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns), nats.Name("thinkstream"), onClose)
		if err != nil {
			ns.Shutdown()
			return nil, fmt.Errorf("eventlog: connect embedded nats: %w", err)
		}
		l.nc = nc
	} else {
		nc, err := nats.Connect(cfg.URL, nats.Name("thinkstream"), nats.MaxReconnects(-1), onClose)
		if err != nil {
			return nil, fmt.Errorf("eventlog: connect %s: %w", cfg.URL, err)
		}
		l.nc = nc
	}
	js, err := jetstream.New(l.nc)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("eventlog: jetstream: %w", err)
	}
	l.js = js
	sc := jetstream.StreamConfig{
		Name:        streamName,
		Description: "thinkstream run events",
		Subjects:    []string{"runs.*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    -1,
		MaxMsgs:     -1,
		Duplicates:  2 * time.Minute,
		AllowDirect: true,
		Replicas:    max(cfg.Replicas, 1),
	}
	if cfg.MaxBytes > 0 {
		sc.MaxBytes = cfg.MaxBytes
	}
	var st jetstream.Stream
	if cfg.KeepLimits {
		st, err = js.Stream(ctx, streamName)
	}
	if st == nil {
		err = retryCreate(ctx, func() (err error) { st, err = js.CreateOrUpdateStream(ctx, sc); return err })
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("eventlog: create stream: %w", err)
	}
	l.stream = st
	var kv jetstream.KeyValue
	if cfg.KeepLimits {
		kv, err = js.KeyValue(ctx, bucketName)
	}
	if kv == nil {
		kc := jetstream.KeyValueConfig{
			Bucket:      bucketName,
			Description: "thinkstream run metadata",
			History:     1,
			Replicas:    max(cfg.Replicas, 1),
			TTL:         cfg.MaxAge,
			Storage:     jetstream.FileStorage,
		}
		err = retryCreate(ctx, func() (err error) { kv, err = js.CreateOrUpdateKeyValue(ctx, kc); return err })
	}
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("eventlog: create bucket: %w", err)
	}
	l.kv = kv
	return l, nil
}

// retryCreate runs a create-or-update again when it lost a race or came
// too early. Two processes of a cluster starting at once on a fresh NATS
// both find no stream, and the second create fails as "stream name
// already in use" when its configuration differs; the next round finds
// the stream and updates it. And a NATS cluster that has just formed can
// answer a replicated create with "no suitable peers for placement, peer
// offline" (or "temporarily unavailable") until every peer has reported to
// its meta leader: those are retried with backoff for up to
// createPatience.
func retryCreate(ctx context.Context, createOrUpdate func() error) error {
	deadline := time.Now().Add(createPatience)
	err := createOrUpdate()
	for try := 1; err != nil; try++ {
		switch {
		case errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) && try < 5:
		case clusterNotReady(err) && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return err
			case <-time.After(min(time.Duration(try)*100*time.Millisecond, time.Second)):
			}
		default:
			return err
		}
		err = createOrUpdate()
	}
	return nil
}

// createPatience bounds retryCreate's wait for a forming cluster.
const createPatience = 30 * time.Second

// clusterNotReady says err is JetStream's answer while a cluster's peers
// are still coming up: JSClusterNoPeersErr (10005) or JSClusterNotAvailErr
// (10008).
func clusterNotReady(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == 10005 || apiErr.ErrorCode == 10008)
}

// Close drains the connection and stops the embedded server.
func (l *Log) Close() error {
	if l.nc != nil {
		l.nc.Close()
	}
	if l.ns != nil {
		l.ns.Shutdown()
		l.ns.WaitForShutdown()
	}
	return nil
}

// Conn is the log's NATS connection, for the other uses a cluster makes
// of the same NATS (commands between processes).
func (l *Log) Conn() *nats.Conn { return l.nc }

func subject(runID string) string { return "runs." + runID }

// Append logs records of one run in order and returns once JetStream has
// acknowledged all of them: only then may they be shown to anyone.
func (l *Log) Append(ctx context.Context, runID string, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(recs))
	for _, r := range recs {
		m, err := message(runID, r)
		if err != nil {
			return err
		}
		f, err := l.js.PublishMsgAsync(m, jetstream.WithMsgID(msgID(runID, r.Seq)))
		if err != nil {
			return fmt.Errorf("eventlog: publish %s seq %d: %w", runID, r.Seq, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			l.noteIndex(runID, recs[i].Seq, ack.Sequence)
		case err := <-f.Err():
			return fmt.Errorf("eventlog: publish %s seq %d: %w", runID, recs[i].Seq, err)
		case <-l.closed:
			return fmt.Errorf("eventlog: publish %s seq %d: %w", runID, recs[i].Seq, nats.ErrConnectionClosed)
		case <-ctx.Done():
			return fmt.Errorf("eventlog: publish %s: %w", runID, ctx.Err())
		}
	}
	return nil
}

// message is the JetStream message that logs r.
func message(runID string, r Record) (*nats.Msg, error) {
	m := nats.NewMsg(subject(runID))
	m.Data = r.Data
	m.Header.Set(seqHeader, strconv.FormatInt(r.Seq, 10))
	if r.Type != "" {
		m.Header.Set(typeHeader, r.Type)
		m.Header.Set(timeHeader, strconv.FormatInt(r.T, 10))
	}
	if len(r.Raw) > 0 {
		raw, err := json.Marshal(r.Raw)
		if err != nil {
			return nil, fmt.Errorf("eventlog: encode raw of %s seq %d: %w", runID, r.Seq, err)
		}
		m.Header.Set(rawHeader, string(raw))
	}
	return m, nil
}

// msgID is the id JetStream deduplicates a run's event by.
func msgID(runID string, seq int64) string { return runID + ":" + strconv.FormatInt(seq, 10) }

// noteIndex remembers where every indexEvery-th event of a run is.
func (l *Log) noteIndex(runID string, seq int64, streamSeq uint64) {
	if (seq-1)%indexEvery != 0 {
		return
	}
	slot := int((seq - 1) / indexEvery)
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := l.index[runID]
	if slot == len(idx) {
		l.index[runID] = append(idx, streamSeq)
	}
}

// startFor returns the stream sequence to start reading a run from so that
// per-run seq after+1 is not skipped, and the per-run seq found there.
func (l *Log) startFor(ctx context.Context, runID string, after int64) (uint64, int64, error) {
	l.mu.Lock()
	idx := l.index[runID]
	slot := min(int(after/indexEvery), len(idx)-1)
	if slot >= 0 {
		s := idx[slot]
		l.mu.Unlock()
		return s, int64(slot)*indexEvery + 1, nil
	}
	l.mu.Unlock()
	msg, err := l.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject(runID)))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, ErrNotFound
	}
	seq, err := seqOf(runID, "first", msg, err)
	if err != nil {
		return 0, 0, err
	}
	return msg.Sequence, seq, nil
}

// fetchWait bounds how long Read waits for events it knows are logged before
// it calls them missing.
const fetchWait = 5 * time.Second

// Read calls fn for every logged event of a run with after < seq <= until,
// in order. until <= 0 means up to whatever is logged now.
func (l *Log) Read(ctx context.Context, runID string, after, until int64, fn func(Record) error) error {
	if until <= 0 {
		last, err := l.LastSeq(ctx, runID)
		if err != nil {
			return err
		}
		until = last
	}
	if until <= after {
		return nil
	}
	start, pos, err := l.startFor(ctx, runID, after)
	if err != nil {
		return err
	}
	next := after + 1
	for attempt := 1; ; attempt++ {
		last, err := l.readFrom(ctx, runID, start, pos, after, &next, until, fn)
		if !errors.Is(err, errLost) || attempt == readAttempts {
			return err
		}
		// Events known to be logged did not arrive: a client subscription
		// that fell behind under load drops messages, and without acks the
		// consumer has moved past them. They are still in the stream: read
		// on from the one after the last that did arrive.
		l.log.Warn("eventlog: read lost events; reading again", "run", runID, "next", next, "err", err)
		start, pos = last+1, next
	}
}

// errLost marks events that should have arrived and did not.
var errLost = errors.New("lost in transit")

// readAttempts bounds how often Read starts again after lost events.
const readAttempts = 3

// readFrom reads events next..until with a consumer starting at stream
// sequence start (per-run seq pos), advancing *next. It returns the stream
// sequence of the last event it read (start-1 if none).
func (l *Log) readFrom(ctx context.Context, runID string, start uint64, pos, after int64, next *int64, until int64, fn func(Record) error) (uint64, error) {
	last := start - 1
	cons, err := l.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		AckPolicy:         jetstream.AckNonePolicy,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		FilterSubject:     subject(runID),
		InactiveThreshold: time.Minute,
		MemoryStorage:     true,
		// One replica: a read's consumer lives for one read, and on a
		// cluster a replicated one answers only once its replicas elected
		// a leader (fetches before that find no responder).
		Replicas: 1,
	})
	if err != nil {
		return last, fmt.Errorf("eventlog: read %s: %w", runID, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = l.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	for *next <= until {
		// A waiting fetch, not a no-wait one: the client gives a no-wait
		// fetch one second, and a busy server can take longer to send a
		// batch. Events up to `until` are acknowledged, so a waiting fetch
		// of them returns as soon as they are all sent.
		want := until - pos + 1
		if want <= 0 {
			return last, fmt.Errorf("eventlog: run %s: seq %d to %d %w", runID, *next, until, errLost)
		}
		batch, err := cons.Fetch(int(min(want, 512)), jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			return last, fmt.Errorf("eventlog: read %s: %w", runID, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			seq, err := strconv.ParseInt(m.Headers().Get(seqHeader), 10, 64)
			if err != nil {
				return last, fmt.Errorf("eventlog: run %s: bad seq header: %w", runID, err)
			}
			pos = seq + 1
			var streamSeq uint64
			if md, err := m.Metadata(); err == nil {
				streamSeq = md.Sequence.Stream
				l.noteIndex(runID, seq, streamSeq)
			}
			if seq < *next {
				last = max(last, streamSeq)
				continue
			}
			if seq > until {
				break
			}
			if seq != *next {
				if *next != after+1 && !l.markedDamaged(ctx, runID) {
					return last, fmt.Errorf("eventlog: run %s: hole: want seq %d, got %d: %w", runID, *next, seq, errLost)
				}
				// Retention removed the run's oldest events: start at
				// the first that is left (FirstSeq lets callers say so).
				*next = seq
			}
			rec := Record{Seq: seq, Type: m.Headers().Get(typeHeader), Data: m.Data()}
			rec.T, _ = strconv.ParseInt(m.Headers().Get(timeHeader), 10, 64)
			if raw := m.Headers().Get(rawHeader); raw != "" {
				if err := json.Unmarshal([]byte(raw), &rec.Raw); err != nil {
					return last, fmt.Errorf("eventlog: run %s seq %d: bad raw header: %w", runID, seq, err)
				}
			}
			if err := fn(rec); err != nil {
				return last, err
			}
			last = max(last, streamSeq)
			*next++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return last, fmt.Errorf("eventlog: read %s: %w", runID, err)
		}
		if err := ctx.Err(); err != nil {
			return last, err
		}
		if got == 0 {
			return last, fmt.Errorf("eventlog: run %s: seq %d to %d missing: %w", runID, *next, until, errLost)
		}
	}
	return last, nil
}

// markedDamaged reports whether a repair marked the run as one that lost
// events: its metadata and its terminal event say so, so reading past
// the holes hides nothing.
func (l *Log) markedDamaged(ctx context.Context, runID string) bool {
	run, err := l.GetRun(ctx, runID)
	return err == nil && run.Error != nil && run.Error.Code == DamagedCode
}

// FirstSeq returns the lowest per-run sequence still in the log (1 unless
// retention removed the run's oldest events), or 0 when none is left.
func (l *Log) FirstSeq(ctx context.Context, runID string) (int64, error) {
	msg, err := l.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject(runID)))
	return seqOf(runID, "first", msg, err)
}

// LastSeq returns the highest logged per-run sequence of a run, 0 if none.
func (l *Log) LastSeq(ctx context.Context, runID string) (int64, error) {
	rec, _, err := l.Tail(ctx, runID)
	return rec.Seq, err
}

// seqOf reads the per-run seq of a message fetched directly; a run with no
// message has seq 0.
func seqOf(runID, which string, msg *jetstream.RawStreamMsg, err error) (int64, error) {
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("eventlog: %s seq of %s: %w", which, runID, err)
	}
	seq, err := strconv.ParseInt(msg.Header.Get(seqHeader), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("eventlog: run %s: bad seq header: %w", runID, err)
	}
	return seq, nil
}
