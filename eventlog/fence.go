package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/thinkstream/thinkstream"
)

// ErrConflict is returned by AppendAfter when the run's log no longer ends
// where the caller read it: another process appended meanwhile.
var ErrConflict = thinkstream.ErrLogConflict

// Tail returns the last logged event of a run and its position in the
// stream, the fence to hand to AppendAfter; a run with no events has a
// zero Record and position 0.
func (l *Log) Tail(ctx context.Context, runID string) (thinkstream.Record, uint64, error) {
	msg, err := l.stream.GetLastMsgForSubject(ctx, subject(runID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return thinkstream.Record{}, 0, nil
	}
	seq, err := seqOf(runID, "last", msg, err)
	if err != nil {
		return thinkstream.Record{}, 0, err
	}
	rec := thinkstream.Record{Seq: seq, Type: msg.Header.Get(typeHeader), Data: msg.Data}
	if t := msg.Header.Get(timeHeader); t != "" {
		rec.T, _ = strconv.ParseInt(t, 10, 64)
	}
	return rec, msg.Sequence, nil
}

// AppendAfter appends like Append, but each record only if the run's log
// still ends where the writer knows it does: the first at stream position
// fence (from Tail), each next one right after the one before. Of two
// processes that read the same end and append, one gets ErrConflict
// instead of both numbering the same seq (JetStream's dedup by run and
// seq would drop the second one silently). The records go one at a time,
// each after the ack of the one before: fenced batches are short (an
// annotation, a run's first or last events).
func (l *Log) AppendAfter(ctx context.Context, runID string, fence uint64, recs []Record) error {
	for _, r := range recs {
		m, err := message(runID, r)
		if err != nil {
			return err
		}
		ack, err := l.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID(runID, r.Seq)),
			jetstream.WithExpectLastSequencePerSubject(fence))
		if wrongLast(err) {
			return fmt.Errorf("%w (%s seq %d)", ErrConflict, runID, r.Seq)
		}
		if err != nil {
			return fmt.Errorf("eventlog: publish %s seq %d: %w", runID, r.Seq, err)
		}
		if ack.Duplicate {
			// The seq's id is taken (the log lost the event that had it,
			// or is deleting the run): not stored.
			return fmt.Errorf("%w (%s seq %d was logged before)", ErrConflict, runID, r.Seq)
		}
		l.noteIndex(runID, r.Seq, ack.Sequence)
		fence = ack.Sequence
	}
	return nil
}

// wrongLast reports a compare-and-set that lost: JetStream's "wrong last
// sequence" (10164 on replicated streams).
func wrongLast(err error) bool {
	var ae *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &ae) &&
		(ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
