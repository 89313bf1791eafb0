package wasmhost

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// The emulator's gRPC: proxy_grpc_call, proxy_grpc_stream, proxy_grpc_send
// and proxy_grpc_cancel reach real gRPC servers (Options.GRPCClusters maps
// an Envoy cluster name to an address: a real etcd in the fleet tests), as
// Envoy's async gRPC client does, with the callbacks Envoy makes: a unary
// call that succeeds gets proxy_on_grpc_receive only, one that fails
// proxy_on_grpc_close with its gRPC status (proxy_get_status has the
// message); a stream gets proxy_on_grpc_receive per message and
// proxy_on_grpc_close at its end; a cancelled call or stream gets nothing.
// Tokens follow cpp-host: callouts step by 4, a call's token is 1 mod 4, a
// stream's 2 mod 4. (Envoy's initial and trailing metadata callbacks are
// not played: the plugin ignores them.)
// Answers arrive in real time and are handed to the VM when the test
// delivers them (DeliverGRPC, which Advance and Do call).

// grpcTarget is the cluster a gRPC hostcall names: Envoy parses the
// argument as a serialized GrpcService first (envoy_grpc (1) {
// cluster_name (1) }), then takes it as a bare cluster name.
func grpcTarget(arg []byte) string {
	var cluster string
	if outer, _, n := protowire.ConsumeTag(arg); n > 0 && outer == 1 {
		if v, m := protowire.ConsumeBytes(arg[n:]); m > 0 && n+m == len(arg) {
			if inner, _, k := protowire.ConsumeTag(v); k > 0 && inner == 1 {
				if name, j := protowire.ConsumeBytes(v[k:]); j > 0 {
					cluster = string(name)
				}
			}
		}
	}
	if cluster == "" {
		return string(arg)
	}
	return cluster
}

// grpcCodec passes messages through as the bytes the plugin wrote.
type grpcCodec struct{}

func (grpcCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (grpcCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (grpcCodec) Name() string { return "proto" }

// grpcEvent is an answer waiting to be delivered to a VM's root context.
type grpcEvent struct {
	vm      *VM
	root    uint32
	token   uint32
	message []byte
	closed  bool
	code    uint32
	msg     string
}

// grpcState is the host's gRPC side: connections by cluster, calls and
// streams in flight, and answers waiting.
type grpcState struct {
	mu       sync.Mutex
	conns    map[string]*grpc.ClientConn
	events   []grpcEvent
	inflight int // unary calls not answered yet
	streams  map[uint32]*grpcStream
	next     uint32
	blocked  bool
	arrived  chan struct{}
}

type grpcStream struct {
	stream grpc.ClientStream
	cancel context.CancelFunc
	vm     *VM
	root   uint32
	done   bool
}

func (g *grpcState) conn(h *Host, cluster string) (*grpc.ClientConn, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.conns[cluster]; ok {
		return c, true
	}
	addr, ok := h.opts.GRPCClusters[cluster]
	if !ok {
		return nil, false
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(grpcCodec{})))
	if err != nil {
		return nil, false
	}
	g.conns[cluster] = c
	return c, true
}

func (g *grpcState) push(e grpcEvent) {
	g.mu.Lock()
	g.events = append(g.events, e)
	g.mu.Unlock()
	select {
	case g.arrived <- struct{}{}:
	default:
	}
}

// CutGRPC cuts (or restores) this host's gRPC clusters, as if the
// replica lost its network to them: calls and streams fail UNAVAILABLE.
func (h *Host) CutGRPC(cut bool) {
	h.grpc.mu.Lock()
	h.grpc.blocked = cut
	streams := h.grpc.streams
	h.grpc.mu.Unlock()
	if cut {
		for _, s := range streams {
			s.cancel()
		}
	}
}

// grpcCall starts a unary call for a VM's root context.
func (vm *VM) grpcCall(cluster, service, method string, req []byte, timeoutMs uint32) (uint32, uint32) {
	g := vm.h.grpc
	conn, ok := g.conn(vm.h, cluster)
	if !ok {
		return 0, statusBadArgument
	}
	g.mu.Lock()
	g.next += 4 // cpp-host: callouts step by 4; the low bits say the kind
	token := g.next + 1
	g.inflight++
	blocked := g.blocked
	g.mu.Unlock()
	root := vm.currentRoot()
	go func() {
		ctx := context.Background()
		cancel := func() {}
		if timeoutMs > 0 {
			ctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutMs)*time.Millisecond)
		}
		defer cancel()
		var resp []byte
		err := status.Error(codes.Unavailable, "cut off from the cluster")
		if !blocked {
			err = conn.Invoke(ctx, "/"+service+"/"+method, &req, &resp)
		}
		e := grpcEvent{vm: vm, root: root, token: token, message: resp}
		if err != nil {
			st, _ := status.FromError(err)
			e = grpcEvent{vm: vm, root: root, token: token, closed: true, code: uint32(st.Code()), msg: st.Message()}
		}
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
		g.push(e)
	}()
	return token, statusOK
}

// grpcOpen opens a bidirectional stream for a VM's root context.
func (vm *VM) grpcOpen(cluster, service, method string) (uint32, uint32) {
	g := vm.h.grpc
	conn, ok := g.conn(vm.h, cluster)
	if !ok {
		return 0, statusBadArgument
	}
	g.mu.Lock()
	g.next += 4
	token := g.next + 2
	blocked := g.blocked
	g.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	s := &grpcStream{cancel: cancel, vm: vm, root: vm.currentRoot()}
	if blocked {
		cancel()
	}
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/"+service+"/"+method)
	if err != nil {
		cancel()
		st, _ := status.FromError(err)
		g.push(grpcEvent{vm: vm, root: s.root, token: token, closed: true, code: uint32(st.Code()), msg: st.Message()})
		return token, statusOK
	}
	s.stream = cs
	g.mu.Lock()
	g.streams[token] = s
	g.mu.Unlock()
	go func() {
		for {
			var m []byte
			err := cs.RecvMsg(&m)
			if err != nil {
				st, _ := status.FromError(err)
				g.mu.Lock()
				cancelled := s.done
				delete(g.streams, token)
				g.mu.Unlock()
				if !cancelled {
					g.push(grpcEvent{vm: vm, root: s.root, token: token, closed: true, code: uint32(st.Code()), msg: st.Message()})
				}
				return
			}
			g.push(grpcEvent{vm: vm, root: s.root, token: token, message: m})
		}
	}()
	return token, statusOK
}

// grpcSend sends a message on a stream.
func (vm *VM) grpcSend(token uint32, msg []byte, end bool) uint32 {
	g := vm.h.grpc
	g.mu.Lock()
	s, ok := g.streams[token]
	g.mu.Unlock()
	if !ok || s.stream == nil {
		return statusNotFound
	}
	m := append([]byte(nil), msg...)
	if err := s.stream.SendMsg(&m); err != nil {
		return statusInternalFailure
	}
	if end {
		_ = s.stream.CloseSend()
	}
	return statusOK
}

// grpcCancel cancels a stream (or forgets a call): no callback follows.
func (vm *VM) grpcCancel(token uint32) uint32 {
	g := vm.h.grpc
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.streams[token]; ok {
		s.done = true
		s.cancel()
		delete(g.streams, token)
		return statusOK
	}
	for i, e := range g.events {
		if e.token == token {
			g.events = append(g.events[:i], g.events[i+1:]...)
			return statusOK
		}
	}
	return statusNotFound
}

// DeliverGRPC hands the VMs every gRPC answer that has arrived, waiting up
// to wait (real time) for unary calls still out; what those answers send
// is waited for too, within the same bound.
func (h *Host) DeliverGRPC(wait time.Duration) error {
	g := h.grpc
	deadline := time.Now().Add(wait)
	for {
		g.mu.Lock()
		events := g.events
		g.events = nil
		inflight := g.inflight
		g.mu.Unlock()
		for _, e := range events {
			if err := e.vm.deliverGRPC(e); err != nil {
				return err
			}
		}
		if len(events) > 0 {
			continue
		}
		if inflight == 0 || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-g.arrived:
		case <-time.After(time.Until(deadline)):
		}
	}
}

// deliverGRPC runs the callback for one answer on its root context.
func (vm *VM) deliverGRPC(e grpcEvent) error {
	if vm.failed != nil || vm.roots[e.root] == nil || !vm.roots[e.root].live {
		return nil // the root went away: Envoy cancels its calls
	}
	vm.grpcResp = &e
	defer func() { vm.grpcResp = nil }()
	if e.closed {
		rs := vm.roots[e.root]
		rs.status, rs.statusMsg = e.code, e.msg
		_, err := vm.call(e.root, "proxy_on_grpc_close", uint64(e.root), uint64(e.token), uint64(e.code))
		return err
	}
	_, err := vm.call(e.root, "proxy_on_grpc_receive", uint64(e.root), uint64(e.token), uint64(len(e.message)))
	return err
}

// closeGRPC closes the host's connections.
func (g *grpcState) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.streams {
		s.done = true
		s.cancel()
	}
	for _, c := range g.conns {
		_ = c.Close()
	}
}

func (g *grpcState) String() string { return fmt.Sprintf("grpc(%d in flight)", g.inflight) }
