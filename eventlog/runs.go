package eventlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream"
)

// PutRun stores a run's metadata.
func (l *Log) PutRun(ctx context.Context, run thinkstream.Run) error {
	b, err := json.Marshal(storedRun{run, run.OwnerKey})
	if err != nil {
		return fmt.Errorf("eventlog: encode run: %w", err)
	}
	if _, err := l.kv.Put(ctx, run.ID, b); err != nil {
		return fmt.Errorf("eventlog: store run %s: %w", run.ID, err)
	}
	return nil
}

// GetRun loads a run's metadata.
func (l *Log) GetRun(ctx context.Context, id string) (thinkstream.Run, error) {
	var run thinkstream.Run
	if !validKey(id) {
		return run, ErrNotFound
	}
	e, err := l.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return run, ErrNotFound
	}
	if err != nil {
		return run, fmt.Errorf("eventlog: load run %s: %w", id, err)
	}
	var st storedRun
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return run, fmt.Errorf("eventlog: decode run %s: %w", id, err)
	}
	st.Run.OwnerKey = st.OwnerKey
	return st.Run, nil
}

// storedRun is a run's metadata as the bucket keeps it: with the fields
// that clients never see.
type storedRun struct {
	thinkstream.Run
	OwnerKey string `json:"owner_key,omitempty"`
}

// RunIDs returns the ids of all stored runs, newest first (ids are
// time-ordered UUIDv7s, so sorting them sorts by creation time).
//
// Listing every key costs the server a map of all the bucket's subjects and
// the client its JSON (milliseconds at thousands of runs), so the list is
// kept and reused while the bucket's stream state (first and last sequence,
// message count) is unchanged: a flood of GET /v1/runs between changes
// asks only for that state.
func (l *Log) RunIDs(ctx context.Context) ([]string, error) {
	st, err := l.js.Stream(ctx, "KV_"+bucketName)
	if err != nil {
		return nil, fmt.Errorf("eventlog: list runs: %w", err)
	}
	state := st.CachedInfo().State
	mark := [3]uint64{state.FirstSeq, state.LastSeq, state.Msgs}
	l.mu.Lock()
	if l.idsMark == mark && l.ids != nil {
		ids := slices.Clone(l.ids)
		l.mu.Unlock()
		return ids, nil
	}
	l.mu.Unlock()
	keys, _, err := l.bucketKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("eventlog: list runs: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	slices.Sort(keys)
	slices.Reverse(keys)
	l.mu.Lock()
	l.ids, l.idsMark = slices.Clone(keys), mark
	l.mu.Unlock()
	return keys, nil
}

// validKey rejects ids that are not safe NATS subject tokens / KV keys.
func validKey(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
