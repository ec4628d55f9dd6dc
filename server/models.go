package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/modelpull"
	"github.com/thinkstream/thinkstream/modelstore"
)

// ModelsConfig offers the model download of the home page (package
// modelpull) and switches the server to the downloaded model when it is
// in.
type ModelsConfig struct {
	// Puller downloads into the models directory. Required.
	Puller *modelstore.Puller
	// Repo and DefaultQuant: what is offered (modelpull's defaults when empty).
	Repo, DefaultQuant string
	// Open loads a GGUF file as an engine; its close func releases it.
	Open func(path string) (thinkstream.Engine, func(), error)
}

// engineSwitch is the part of the server that changes with the engine:
// the OpenAI-compatible API's model list, and the engines to close.
type engineSwitch struct {
	mu      sync.Mutex
	closers []func()
	// openai serves the OpenAI-compatible routes for the current engine;
	// it is rebuilt on a switch so /v1/models names the new model.
	openai atomic.Pointer[http.ServeMux]
}

// SwitchEngine sends new runs to eng without a restart: runs already
// created finish on the engine they started on. close, if not nil, is
// called when the server closes (the old engine may still be finishing
// runs until then, so it is not closed at the switch).
func (s *Server) SwitchEngine(eng thinkstream.Engine, close func()) {
	s.Runs.SetEngine(eng)
	s.sw.mu.Lock()
	if close != nil {
		s.sw.closers = append(s.sw.closers, close)
	}
	s.sw.mu.Unlock()
	if s.sw.openai.Load() != nil {
		s.sw.openai.Store(s.openAIMux())
	}
	info := s.Runs.EngineInfo()
	s.logger.Info("engine switched: new runs go to it", "engine", eng.Name(), "model", info.Model, "simulated", info.Simulated)
}

// loadPulled is the pull manager's Ready: load the file, switch to it.
func (s *Server) loadPulled(_ context.Context, path string) error {
	eng, closeEng, err := s.cfg.Models.Open(path)
	if err != nil {
		return fmt.Errorf("server: loading %s: %w", path, err)
	}
	s.SwitchEngine(eng, closeEng)
	return nil
}

func (s *Server) newPulls() *modelpull.Manager {
	m := s.cfg.Models
	if m == nil || m.Puller == nil || m.Open == nil {
		return nil
	}
	return modelpull.New(modelpull.Config{Puller: m.Puller, Repo: m.Repo, DefaultQuant: m.DefaultQuant, Ready: s.loadPulled, Logger: s.logger})
}

// closeEngines releases the engines switched to.
func (s *Server) closeEngines() {
	s.sw.mu.Lock()
	cs := s.sw.closers
	s.sw.closers = nil
	s.sw.mu.Unlock()
	for _, c := range cs {
		c()
	}
}
