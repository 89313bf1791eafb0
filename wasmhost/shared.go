package wasmhost

import "sort"

// Status codes as Envoy returns them.
const (
	statusOK                  = 0
	statusNotFound            = 1
	statusBadArgument         = 2
	statusInvalidMemoryAccess = 6
	statusCasMismatch         = 8
	statusInternalFailure     = 10
	statusBrokenConnection    = 11
	statusUnimplemented       = 12
)

type sharedValue struct {
	data []byte
	cas  uint32
}

// getShared follows Envoy: a missing key is NotFound; else value and cas.
func (h *Host) getShared(key string) ([]byte, uint32, uint32) {
	v, ok := h.shared[key]
	if !ok {
		return nil, 0, statusNotFound
	}
	return v.data, v.cas, statusOK
}

// setShared follows Envoy: cas 0, or a missing key, always succeeds; a
// non-zero cas must match the key's; the counter is global and skips 0.
func (h *Host) setShared(key string, data []byte, cas uint32) uint32 {
	if cur, ok := h.shared[key]; ok && cas != 0 && cas != cur.cas {
		h.casMismatches++
		return statusCasMismatch
	}
	h.cas++
	if h.cas == 0 {
		h.cas++
	}
	h.shared[key] = sharedValue{data: append([]byte(nil), data...), cas: h.cas}
	return statusOK
}

// SharedData returns a key's value and cas (ok false when missing).
func (h *Host) SharedData(key string) ([]byte, uint32, bool) {
	v, ok := h.shared[key]
	return append([]byte(nil), v.data...), v.cas, ok
}

// SetSharedData writes a value with Envoy's CAS rules; false on mismatch.
func (h *Host) SetSharedData(key string, data []byte, cas uint32) bool {
	return h.setShared(key, data, cas) == statusOK
}

// SharedKeys lists every shared-data key, sorted.
func (h *Host) SharedKeys() []string {
	keys := make([]string, 0, len(h.shared))
	for k := range h.shared {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// MetricType is counter 0, gauge 1, histogram 2.
type MetricType uint32

// Metric is a stat shared by name across VMs.
type Metric struct {
	Name  string
	Type  MetricType
	Value uint64
	// Samples are a histogram's recorded values, in order.
	Samples []uint64
}

// Metrics returns every defined stat, sorted by name.
func (h *Host) Metrics() []Metric {
	out := make([]Metric, 0, len(h.metrics))
	for _, m := range h.metrics {
		c := *m
		c.Samples = append([]uint64(nil), m.Samples...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MetricValue returns a stat's value by name (0 when undefined).
func (h *Host) MetricValue(name string) uint64 {
	if m, ok := h.metrics[name]; ok {
		return m.Value
	}
	return 0
}

// defineMetric gives a per-VM id whose low 2 bits encode the type, as
// Envoy's do; the stat itself is shared by name.
func (vm *VM) defineMetric(t MetricType, name string) (uint32, uint32) {
	if t > 2 {
		return 0, statusBadArgument
	}
	if _, ok := vm.h.metrics[name]; !ok {
		vm.h.metrics[name] = &Metric{Name: name, Type: t}
	}
	if id, ok := vm.metricByName[name]; ok {
		return id, statusOK
	}
	id := uint32(len(vm.metricIDs)+1)<<2 | uint32(t)
	vm.metricIDs[id] = name
	vm.metricByName[name] = id
	return id, statusOK
}

func (vm *VM) metric(id uint32) *Metric {
	name, ok := vm.metricIDs[id]
	if !ok {
		return nil
	}
	return vm.h.metrics[name]
}

func (vm *VM) incrementMetric(id uint32, delta int64) uint32 {
	m := vm.metric(id)
	switch {
	case m == nil:
		return statusNotFound
	case m.Type == 0 && delta <= 0:
		return statusBadArgument
	case m.Type == 2:
		return statusBadArgument
	}
	m.Value = uint64(int64(m.Value) + delta)
	return statusOK
}

func (vm *VM) recordMetric(id uint32, value uint64) uint32 {
	m := vm.metric(id)
	if m == nil {
		return statusNotFound
	}
	if m.Type == 2 {
		m.Samples = append(m.Samples, value)
		return statusOK
	}
	m.Value = value
	return statusOK
}

func (vm *VM) getMetric(id uint32) (uint64, uint32) {
	m := vm.metric(id)
	switch {
	case m == nil:
		return 0, statusNotFound
	case m.Type == 2:
		return 0, statusBadArgument
	}
	return m.Value, statusOK
}
