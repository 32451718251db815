package httpapi

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// RenderErrorForTest renders err through the error handler, for table tests
// of the error-to-problem mapping.
func RenderErrorForTest(t *testing.T, err error) (int, map[string][]string, []byte) {
	t.Helper()
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler(slog.New(slog.DiscardHandler), func(string) string { return "" })})
	app.Use((&API{}).requestID)
	app.Get("/", func(*fiber.Ctx) error { return err })
	res, e := app.Test(httptest.NewRequest("GET", "/", nil), -1)
	if e != nil {
		t.Fatal(e)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

// AccessForTest is the declared access of every route of the table, by
// "METHOD path": "public", "owner" or the permission.
func (a *API) AccessForTest() map[string]string {
	out := map[string]string{}
	for _, rt := range a.routes {
		access := string(rt.perm)
		switch {
		case rt.public != nil:
			access = "public"
		case rt.owner:
			access = "owner"
		}
		out[rt.method+" "+rt.path] = access
	}
	return out
}
