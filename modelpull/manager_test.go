package modelpull

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/thinkstream/thinkstream/modelstore"
	"github.com/thinkstream/thinkstream/modelstore/hubtest"
)

func newManager(t *testing.T, ready func(context.Context, string) error) (*Manager, *hubtest.Hub) {
	t.Helper()
	h := hubtest.New(t, "acme/M-GGUF", map[string][]byte{
		"M.Q4_K_M.gguf": []byte(strings.Repeat("q4", 1<<16)),
		"M.Q8_0.gguf":   []byte(strings.Repeat("q8", 1<<10)),
		"notes.gguf":    []byte("no quant in the name: not offered"),
	})
	m := New(Config{Puller: &modelstore.Puller{Store: &modelstore.Store{Dir: t.TempDir()}, Endpoint: h.URL, Client: h.Client()},
		Repo: "acme/M-GGUF", Ready: ready})
	t.Cleanup(m.Close)
	return m, h
}

func waitEnd(t *testing.T, m *Manager, id string) Pull {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		p, changed, err := m.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if p.State.Ended() {
			return p
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("pull not ended: %+v", p)
		}
	}
}

func TestOneAtATimeAndCancel(t *testing.T) {
	m, h := newManager(t, nil)
	files, err := m.Files(context.Background())
	if err != nil || len(files) != 2 || files[0].Quant != "Q4_K_M" || files[1].Quant != "Q8_0" {
		t.Fatalf("files %+v, %v", files, err)
	}
	h.Throttle(1024, 10*time.Millisecond) // 128 KiB at 100 KiB/s: still running when cancelled
	p, err := m.Start(context.Background(), "q4_k_m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(context.Background(), "Q8_0"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second start: %v, want ErrBusy", err)
	}
	got, err := m.Cancel(context.Background(), p.ID)
	if err != nil || got.State != StateCancelled || got.EndedAt == nil {
		t.Fatalf("cancel: %+v, %v", got, err)
	}
	var uq *UnknownQuantError
	if _, err := m.Start(context.Background(), "Q2_K"); !errors.As(err, &uq) || len(uq.Available) != 2 {
		t.Fatalf("unknown quant: %v", err)
	}
	h.Throttle(0, 0)
	p2, err := m.Start(context.Background(), "Q8_0")
	if err != nil {
		t.Fatal(err)
	}
	if end := waitEnd(t, m, p2.ID); end.State != StateReady || end.Done != end.Total {
		t.Fatalf("second pull %+v", end)
	}
	if cur, _ := m.Current(); cur.ID != p2.ID {
		t.Fatalf("current %s, want %s", cur.ID, p2.ID)
	}
}

func TestLoadFailureFailsThePull(t *testing.T) {
	m, _ := newManager(t, func(context.Context, string) error { return errors.New("not a model") })
	p, err := m.Start(context.Background(), "Q8_0")
	if err != nil {
		t.Fatal(err)
	}
	end := waitEnd(t, m, p.ID)
	if end.State != StateFailed || !strings.Contains(end.Error, "could not be loaded") || strings.Contains(end.Error, "not a model") {
		t.Fatalf("pull %+v: want failed with a safe message", end)
	}
}
