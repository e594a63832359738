package atoauthtest

import (
	"bytes"
	"sync"
)

// Buffer is a byte buffer safe for concurrent use: a sink for the logs or
// the output that servers, clients and goroutines write while a test
// reads it. The zero value is an empty buffer ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	defer b.lock()()
	return b.buf.Write(p)
}

// String returns a copy of what has been written so far.
func (b *Buffer) String() string {
	defer b.lock()()
	return b.buf.String()
}

// Len returns the number of bytes written so far.
func (b *Buffer) Len() int {
	defer b.lock()()
	return b.buf.Len()
}

// lock locks the buffer and returns the function that unlocks it.
func (b *Buffer) lock() (unlock func()) {
	b.mu.Lock()
	return b.mu.Unlock
}
