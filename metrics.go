package vendor

import "time"

// metrics is a stub of the API the token path calls; the real one counts.
type metrics struct{}

func newMetrics() *metrics { return &metrics{} }

func (m *metrics) mint(vendor, outcome string, took time.Duration) {}
func mintOutcome(err error) string                                 { return "" }
func (m *metrics) tokenRead(vendor, source string)                 {}
func (m *metrics) rotation(vendor, trigger, outcome string)        {}
func (m *metrics) cachedTokens(delta int)                          {}
