package hub

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the hub's Prometheus collectors.
type Metrics struct {
	Published prometheus.Counter
	Delivered prometheus.Counter
	CatchUps  prometheus.Counter
	Viewers   prometheus.Gauge
	Lag       prometheus.Histogram
	// Paused is the time fan-outs spent pausing between long rounds: when
	// it grows, rounds carry several events per write (see fanout).
	Paused prometheus.Counter
	// Followed is how many runs this node follows from the log (one
	// consumer each, however many viewers).
	Followed prometheus.Gauge
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered, as in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thinkstream_events_published_total", Help: "Events published to viewers after the log acknowledged them.",
		}),
		Delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thinkstream_events_delivered_total", Help: "Event frames written to viewers.",
		}),
		CatchUps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thinkstream_catchups_total", Help: "Reads from the durable log by viewers that were behind the live window.",
		}),
		Viewers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "thinkstream_viewers", Help: "Connected viewers.",
		}),
		Lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "thinkstream_delivery_lag_seconds",
			Help:    "Time from an event's publication to its write to a viewer.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		Paused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thinkstream_fanout_paused_seconds_total", Help: "Time fan-outs paused after long rounds so that each write carries several events.",
		}),
		Followed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "thinkstream_followed_runs", Help: "Runs that another process generates, followed from the log for this node's viewers.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Published, m.Delivered, m.CatchUps, m.Viewers, m.Lag, m.Paused, m.Followed)
	}
	return m
}
