package eventlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// DeleteRun removes a run for good: its events from the stream and its
// metadata from the bucket, both purged (no delete marker is left, so the
// run is not listed, and doctor finds no orphan, after a restart either).
func (l *Log) DeleteRun(ctx context.Context, runID string) error {
	if !validKey(runID) {
		return ErrNotFound
	}
	if err := l.stream.Purge(ctx, jetstream.WithPurgeSubject(subject(runID))); err != nil {
		return fmt.Errorf("eventlog: delete events of %s: %w", runID, err)
	}
	st, err := l.js.Stream(ctx, "KV_"+bucketName)
	if err != nil {
		return fmt.Errorf("eventlog: delete %s: bucket stream: %w", runID, err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject("$KV."+bucketName+"."+runID)); err != nil {
		return fmt.Errorf("eventlog: delete metadata of %s: %w", runID, err)
	}
	l.mu.Lock()
	delete(l.index, runID)
	l.mu.Unlock()
	return nil
}

// Bucket is a small key-value store beside the log (share links), in the
// same JetStream, so it lives and is kept exactly as long as the runs.
type Bucket struct{ kv jetstream.KeyValue }

// Bucket opens (creating it when missing) the bucket of this name.
func (l *Log) Bucket(ctx context.Context, name string) (*Bucket, error) {
	kv, err := l.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = l.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: name, History: 1, Storage: jetstream.FileStorage,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("eventlog: bucket %s: %w", name, err)
	}
	return &Bucket{kv: kv}, nil
}

// Put stores v under key.
func (b *Bucket) Put(ctx context.Context, key string, v []byte) error {
	if !validKey(key) {
		return fmt.Errorf("eventlog: bad key %q", key)
	}
	if _, err := b.kv.Put(ctx, key, v); err != nil {
		return fmt.Errorf("eventlog: put %s: %w", key, err)
	}
	return nil
}

// Get returns the value of key; ok is false when there is none.
func (b *Bucket) Get(ctx context.Context, key string) (v []byte, ok bool, err error) {
	if !validKey(key) {
		return nil, false, nil
	}
	e, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("eventlog: get %s: %w", key, err)
	}
	return e.Value(), true, nil
}

// Delete removes key and its history.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if !validKey(key) {
		return nil
	}
	if err := b.kv.Purge(ctx, key); err != nil {
		return fmt.Errorf("eventlog: delete %s: %w", key, err)
	}
	return nil
}

// Keys lists the keys that have a value.
func (b *Bucket) Keys(ctx context.Context) ([]string, error) {
	kl, err := b.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("eventlog: list keys: %w", err)
	}
	defer kl.Stop()
	var keys []string
	for k := range kl.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}
