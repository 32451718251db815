package blocklist

import (
	"testing"
)

func TestBlocklist_Common_PW05(t *testing.T) {
	l := New()
	if n := l.Len(); n < 10000 {
		t.Fatalf("list holds %d passwords, want at least 10000", n)
	}
	tests := []struct {
		password string
		blocked  bool
	}{
		{"password", true},
		{"123456", true},
		{"qwerty123", true},
		{"iloveyou", true},
		{"PassWord", true},    // case-insensitive
		{"ＰＡＳＳＷＯＲＤ", true},    // fullwidth: NFKC folds it to ASCII
		{"monkey2024!", true}, // common stem padded with digits and symbols
		{"Dragon!!", true},    // stem "dragon" has 6 letters
		{"love2024", false},   // stem "love" is too short to count
		{"correct horse battery staple", false},
		{"vX9#mQ2!pL7@wR4$tZ8&", false}, // random 20-char passphrase
		{"tangerine-lobby-quartz", false},
	}
	for _, tt := range tests {
		got, err := l.Blocked(t.Context(), tt.password)
		if err != nil {
			t.Fatalf("Blocked(%q): %v", tt.password, err)
		}
		if got != tt.blocked {
			t.Errorf("Blocked(%q) = %v, want %v", tt.password, got, tt.blocked)
		}
	}
}

func TestBlocklist_CorruptData(t *testing.T) {
	if _, err := parse([]byte("not gzip")); err == nil {
		t.Fatal("parse accepted corrupt data")
	}
}

func BenchmarkBlocked(b *testing.B) {
	l := New()
	for b.Loop() {
		_, _ = l.Blocked(b.Context(), "Monkey2024!")
	}
}
