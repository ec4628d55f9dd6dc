package runs

import "github.com/thinkstream/thinkstream"

func describe(e thinkstream.Engine) thinkstream.EngineInfo {
	if d, ok := e.(thinkstream.Describer); ok {
		return d.Info()
	}
	return thinkstream.EngineInfo{}
}

// EngineInfo describes the engine new runs go to.
func (m *Manager) EngineInfo() thinkstream.EngineInfo {
	m.emu.RLock()
	defer m.emu.RUnlock()
	return m.info
}

// Engine is the engine new runs go to.
func (m *Manager) Engine() thinkstream.Engine {
	m.emu.RLock()
	defer m.emu.RUnlock()
	return m.eng
}

// SetEngine sends the runs created from now on to e. Runs already created
// (running or queued) stay on the engine they were created for, so a
// switch never changes a run's engine halfway. Without a configured
// MaxConcurrent, the concurrency follows e's MaxParallel.
func (m *Manager) SetEngine(e thinkstream.Engine) {
	info := describe(e)
	m.emu.Lock()
	m.eng, m.info = e, info
	m.emu.Unlock()
	if m.autoConcurrent {
		m.mu.Lock()
		m.cfg.MaxConcurrent = max(info.MaxParallel, 1)
		m.mu.Unlock()
	}
}
