package usermgmt

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

// traceParent is the W3C traceparent of ctx's span, so an event carries the
// trace of the request that caused it; "" outside a sampled-or-not span.
func traceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}
