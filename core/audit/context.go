package audit

import "context"

// Request is what a transport knows about the request behind an action.
type Request struct {
	IP        string
	UserAgent string
	RequestID string
}

type (
	requestKey struct{}
	actorKey   struct{}
)

// WithRequest returns ctx carrying r: a transport sets it once per request,
// and every entry recorded with the ctx gets it.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request ctx carries, or the zero Request.
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

// WithActor returns ctx carrying a as the actor of what is done with it:
// a transport sets it once it has authenticated the caller.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok && !a.IsZero()
}
