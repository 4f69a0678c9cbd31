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
	rd    bytes.Reader
	dec   *jsontext.Decoder
	stack []*shape
}

var checkers = sync.Pool{New: func() any {
	c := &jsonChecker{}
	c.dec = jsontext.NewDecoder(&c.rd)
	return c
}}

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
