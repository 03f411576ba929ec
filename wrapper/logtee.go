package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// The command's stdout and stderr go through at once to the wrapper's own (so `kubectl logs`
// reads as without a wrapper), and line by line into one log file for the archive, in the order
// the lines came. Stdout lines of the form ::{"outputs": {...}}:: (Kestra's convention) are
// outputs. The last few KiB of the log are kept for the manifest of a failed task.

const (
	tailBytes    = 2048
	maxLineBytes = 16 << 20 // a longer line is logged in pieces and not read for outputs
)

// LogSink is the shared end of both streams: the archive file (up to a size) and the tail.
type LogSink struct {
	mu        sync.Mutex
	stderr    io.Writer // the wrapper's own lines go there too
	file      io.Writer // nil: no archive
	max       int64
	written   int64
	truncated bool
	tail      []byte
}

func newLogSink(stderr, file io.Writer, max int64) *LogSink {
	return &LogSink{stderr: stderr, file: file, max: max}
}

func (s *LogSink) writeLine(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tail = append(s.tail, line...)
	if len(s.tail) > 2*tailBytes {
		s.tail = append([]byte(nil), s.tail[len(s.tail)-tailBytes:]...)
	}
	if s.file == nil || s.truncated {
		return
	}
	if s.max > 0 && s.written+int64(len(line)) > s.max {
		s.truncated = true
		note := fmt.Sprintf("\n[overture] log archive truncated: it reached the limit of %d bytes\n", s.max)
		n, _ := io.WriteString(s.file, note)
		s.written += int64(n)
		return
	}
	n, _ := s.file.Write(line)
	s.written += int64(n)
}

// Log writes one of the wrapper's own lines to stderr and the log.
func (s *LogSink) Log(format string, args ...any) {
	line := []byte("[overture] " + fmt.Sprintf(format, args...) + "\n")
	s.stderr.Write(line)
	s.writeLine(line)
}

// Tail is the end of the log, cut at a line start when there is one.
func (s *LogSink) Tail(max int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tail
	if len(t) > max {
		t = t[len(t)-max:]
		if i := bytes.IndexByte(t, '\n'); i >= 0 && i < len(t)-1 {
			t = t[i+1:]
		}
	}
	return string(bytes.ToValidUTF8(t, []byte("?")))
}

// Stream is one of the command's two outputs: an io.Writer for exec.Cmd.
type Stream struct {
	pass    io.Writer
	sink    *LogSink
	outputs *OutputLines // nil for stderr
	partial []byte
}

func (st *Stream) Write(p []byte) (int, error) {
	n := len(p)
	st.pass.Write(p) // a closed stdout must not stop the command nor the archive
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			st.partial = append(st.partial, p...)
			if len(st.partial) >= maxLineBytes {
				st.sink.writeLine(st.partial)
				st.partial = st.partial[:0]
			}
			break
		}
		line := p[:i+1]
		if len(st.partial) > 0 {
			line = append(st.partial, line...)
		}
		st.sink.writeLine(line)
		if st.outputs != nil {
			st.outputs.scan(line)
		}
		st.partial = st.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// Flush logs an unterminated last line.
func (st *Stream) Flush() {
	if len(st.partial) == 0 {
		return
	}
	st.sink.writeLine(append(st.partial, '\n'))
	if st.outputs != nil {
		st.outputs.scan(st.partial)
	}
	st.partial = nil
}

// OutputLines collects the outputs printed as ::{"outputs": {...}}:: lines, later keys winning.
type OutputLines struct {
	Outputs  map[string]json.RawMessage
	Warnings []string
}

func (o *OutputLines) scan(line []byte) {
	line = bytes.TrimSpace(line)
	if !bytes.HasPrefix(line, []byte("::{")) || !bytes.HasSuffix(line, []byte("}::")) {
		return
	}
	var msg struct {
		Outputs map[string]json.RawMessage `json:"outputs"`
	}
	if err := json.Unmarshal(line[2:len(line)-2], &msg); err != nil {
		o.Warnings = append(o.Warnings, fmt.Sprintf("a ::{...}:: line on stdout is not valid JSON (%v)", err))
		return
	}
	if o.Outputs == nil && msg.Outputs != nil {
		o.Outputs = map[string]json.RawMessage{}
	}
	for k, v := range msg.Outputs {
		o.Outputs[k] = v
	}
}
