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
	b, err := encodeRun(run)
	if err != nil {
		return err
	}
	if _, err := l.kv.Put(ctx, run.ID, b); err != nil {
		return fmt.Errorf("eventlog: store run %s: %w", run.ID, err)
	}
	return nil
}

func encodeRun(run thinkstream.Run) ([]byte, error) {
	b, err := json.Marshal(storedRun{run, run.OwnerKey, run.Taken, run.InWorkQueue})
	if err != nil {
		return nil, fmt.Errorf("eventlog: encode run: %w", err)
	}
	return b, nil
}

// GetRun loads a run's metadata.
func (l *Log) GetRun(ctx context.Context, id string) (thinkstream.Run, error) {
	run, _, err := l.getRun(ctx, id)
	return run, err
}

// getRun loads a run's metadata and its revision in the bucket.
func (l *Log) getRun(ctx context.Context, id string) (thinkstream.Run, uint64, error) {
	if !validKey(id) {
		return thinkstream.Run{}, 0, ErrNotFound
	}
	e, err := l.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return thinkstream.Run{}, 0, ErrNotFound
	}
	if err != nil {
		return thinkstream.Run{}, 0, fmt.Errorf("eventlog: load run %s: %w", id, err)
	}
	var st storedRun
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return thinkstream.Run{}, 0, fmt.Errorf("eventlog: decode run %s: %w", id, err)
	}
	st.Run.OwnerKey, st.Run.Taken, st.Run.InWorkQueue = st.OwnerKey, st.Taken, st.InWorkQueue
	return st.Run, e.Revision(), nil
}

// updateTries bounds UpdateRun's rounds; each lost round means another
// process stored the run in between, which a handful of processes cannot
// keep doing for long.
const updateTries = 32

// UpdateRun changes a run's stored metadata with a compare-and-set:
// change sees the newest stored value, and when another process stores
// the run between the read and the write, the round is done again on what
// it stored. An error from change leaves the run as it is and is returned
// with the value it saw. Of processes that race to change a run (a worker
// taking a queued run, a gateway cancelling it), each change applies to
// what the one before it stored, so exactly one sees it still queued.
func (l *Log) UpdateRun(ctx context.Context, id string, change func(*thinkstream.Run) error) (thinkstream.Run, error) {
	for range updateTries {
		run, rev, err := l.getRun(ctx, id)
		if err != nil {
			return run, err
		}
		if err := change(&run); err != nil {
			return run, err
		}
		b, err := encodeRun(run)
		if err != nil {
			return run, err
		}
		_, err = l.kv.Update(ctx, id, b, rev)
		if err == nil {
			return run, nil
		}
		if !wrongLast(err) {
			return run, fmt.Errorf("eventlog: update run %s: %w", id, err)
		}
	}
	return thinkstream.Run{}, fmt.Errorf("eventlog: update run %s: %w", id, ErrConflict)
}

// storedRun is a run's metadata as the bucket keeps it: with the fields
// that clients never see.
type storedRun struct {
	thinkstream.Run
	OwnerKey    string `json:"owner_key,omitempty"`
	Taken       bool   `json:"taken,omitempty"`
	InWorkQueue bool   `json:"work_queue,omitempty"`
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
