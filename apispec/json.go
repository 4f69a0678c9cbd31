package apispec

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// jsonChecker is a pooled streaming reader over one body.
type jsonChecker struct {
	rd  bytes.Reader
	dec *jsontext.Decoder
}

var checkers = sync.Pool{New: func() any {
	c := &jsonChecker{}
	c.dec = jsontext.NewDecoder(&c.rd)
	return c
}}

// checkJSON reads a JSON body once, without building it: one value, valid
// UTF-8, no object with a repeated key, no nesting deeper than maxDepth
// (VAL-03). The schema validator decodes into Go maps, where a repeated key
// silently keeps one value: the upstream might keep the other.
func checkJSON(b []byte, maxDepth int) *Violation {
	c := checkers.Get().(*jsonChecker)
	defer checkers.Put(c)
	c.rd.Reset(b)
	c.dec.Reset(&c.rd, jsontext.AllowDuplicateNames(false), jsontext.AllowInvalidUTF8(false))
	values := 0
	for {
		_, err := c.dec.ReadToken()
		if err == io.EOF {
			if values == 0 {
				return &Violation{Location: "body", Reason: "not valid JSON: empty"}
			}
			return nil
		}
		if err != nil {
			return jsonViolation(err)
		}
		depth := c.dec.StackDepth()
		if depth > maxDepth {
			return &Violation{Location: "body", Pointer: truncate(string(c.dec.StackPointer()), 256), Reason: "nested deeper than " + strconv.Itoa(maxDepth) + " levels"}
		}
		if depth == 0 {
			values++
			if values > 1 {
				return &Violation{Location: "body", Reason: "not valid JSON: more than one value"}
			}
		}
	}
}

func jsonViolation(err error) *Violation {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		if errors.Is(se.Err, jsontext.ErrDuplicateName) {
			return &Violation{Location: "body", Pointer: truncate(string(se.JSONPointer), 256), Reason: "duplicate key"}
		}
		return &Violation{Location: "body", Reason: "not valid JSON at byte " + strconv.FormatInt(se.ByteOffset, 10)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Violation{Location: "body", Reason: "not valid JSON: truncated"}
	}
	return &Violation{Location: "body", Reason: "not valid JSON"}
}
