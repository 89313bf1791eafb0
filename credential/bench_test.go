package credential

import (
	"bytes"
	"testing"
	"time"
)

// Per-request costs: SigV4 and the Kling JWT run on every request; the RS256
// assertion runs once per refresh (about hourly per service-account key).
// Run with: go test ./credential -run '^$' -bench . -benchmem

func BenchmarkSignV4Bedrock(b *testing.B) {
	key := must(NewAWSKey("AKIDEXAMPLE", suiteSecret, ""))
	r := vectorNamed(b, "bedrock-invoke-model-id-with-colon").req
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := key.SignV4(r, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPayloadHash4KiB is the body hash SigV4 needs for a 4 KiB prompt.
func BenchmarkPayloadHash4KiB(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 4096)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = PayloadHash(body)
	}
}

func BenchmarkKlingToken(b *testing.B) {
	key := must(NewKlingKey("AKexample", "SKexample"))
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		_ = key.Token(now)
	}
}

func BenchmarkServiceAccountTokenRequest(b *testing.B) {
	key := must(ParseServiceAccountKey(keyFile(b, nil)))
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := key.TokenRequest(now); err != nil {
			b.Fatal(err)
		}
	}
}
