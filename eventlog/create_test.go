package eventlog

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestRetryCreate holds retryCreate to its three cases: a forming
// cluster's "no suitable peers" and "temporarily unavailable" answers are
// retried until the create goes through, a lost create race is retried
// at once, and any other error, or a context that ends, stops it.
func TestRetryCreate(t *testing.T) {
	noPeers := &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"}
	unavail := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	other := errors.New("disk full")
	for _, tc := range []struct {
		name    string
		answers []error
		want    error
		calls   int
	}{
		{"forming cluster", []error{noPeers, unavail, noPeers, nil}, nil, 4},
		{"lost race", []error{jetstream.ErrStreamNameAlreadyInUse, nil}, nil, 2},
		{"other error", []error{other, nil}, other, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := retryCreate(context.Background(), func() error {
				calls++
				return tc.answers[calls-1]
			})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if calls != tc.calls {
				t.Errorf("%d calls, want %d", calls, tc.calls)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	if err := retryCreate(ctx, func() error { calls++; return noPeers }); !errors.Is(err, noPeers) || calls != 1 {
		t.Errorf("ended context: err %v after %d calls, want the cluster's answer after 1", err, calls)
	}
}
