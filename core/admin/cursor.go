package admin

import (
	"encoding/base64"

	"github.com/usermgmt/usermgmt/ports"
)

// maxCursor bounds a cursor a client sends back.
const maxCursor = 512

// sealCursor makes an opaque, tamper-proof cursor of payload, valid only
// with the same binding (the listing's filters and order).
func sealCursor(box ports.SecretBox, payload, binding []byte) (string, error) {
	sealed, err := box.Seal(payload, binding)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openCursor returns the payload of a cursor sealCursor made with the same
// binding, or ErrInvalidCursor.
func openCursor(box ports.SecretBox, cursor string, binding []byte) ([]byte, error) {
	if len(cursor) > maxCursor {
		return nil, ErrInvalidCursor
	}
	sealed, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, ErrInvalidCursor
	}
	b, err := box.Open(sealed, binding)
	if err != nil {
		return nil, ErrInvalidCursor
	}
	return b, nil
}
