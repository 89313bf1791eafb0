// Command mockllm runs the mock OpenAI-compatible provider on its own:
//
//	go run ./cmd/mockllm -addr 127.0.0.1:18080 -script 'sk-demo-token-bravo=500'
//
// -script sets token behaviours: token=STATUS[,retry=N][,delay=DURATION] or token=reset.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/token-failover/token-failover/mockllm"
)

type scripts []string

func (s *scripts) String() string     { return strings.Join(*s, " ") }
func (s *scripts) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	var script scripts
	flag.Var(&script, "script", "token=STATUS[,retry=N][,delay=D] or token=reset (repeatable)")
	flag.Parse()
	s := mockllm.New()
	for _, sc := range script {
		token, b, err := parse(sc)
		if err != nil {
			log.Fatalf("mockllm: -script %q: %v", sc, err)
		}
		s.Set(token, b)
	}
	bound, err := s.Start(*addr)
	if err != nil {
		log.Fatalf("mockllm: %v", err)
	}
	fmt.Printf("mockllm listening on %s\n", bound)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	_ = s.Close()
}

func parse(sc string) (string, mockllm.Behaviour, error) {
	token, spec, ok := strings.Cut(sc, "=")
	if !ok {
		return "", mockllm.Behaviour{}, fmt.Errorf("want token=behaviour")
	}
	var b mockllm.Behaviour
	for _, part := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch {
		case k == "reset":
			b.Reset = true
		case k == "retry":
			n, err := strconv.Atoi(v)
			if err != nil {
				return "", b, err
			}
			b.RetryAfter = n
		case k == "delay":
			d, err := time.ParseDuration(v)
			if err != nil {
				return "", b, err
			}
			b.Delay = d
		default:
			n, err := strconv.Atoi(k)
			if err != nil {
				return "", b, fmt.Errorf("unknown behaviour %q", k)
			}
			b.Status = n
		}
	}
	return token, b, nil
}
