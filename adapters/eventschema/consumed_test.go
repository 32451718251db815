package eventschema_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/eventschema"
)

func consumed(typ string, data any) []byte {
	b, _ := json.Marshal(map[string]any{"id": "0192f0c4-9c6e-7d3a-8f3e-2b1f4c5d6e7f", "type": typ, "specversion": "1.0",
		"source": "urn:other", "data": data})
	return b
}

const uid = "0192f0c4-9c6e-7d3a-8f3e-2b1f4c5d6e70"

func TestConsumed_TypesAndValidEvents(t *testing.T) {
	want := []string{"account.connected", "campaign.created", "compliance.violation", "subscription.updated"}
	if got := eventschema.ConsumedTypes(); !slices.Equal(got, want) {
		t.Fatalf("consumed types %v, want %v", got, want)
	}
	v, err := eventschema.NewConsumed()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range [][]byte{
		consumed("account.connected", map[string]any{"userId": uid, "accountId": "a-1", "platform": "twitter"}),
		consumed("campaign.created", map[string]any{"userId": uid, "campaignId": "c-1", "budget": 100}), // extra fields are fine
		consumed("subscription.updated", map[string]any{"userId": uid, "plan": "pro", "features": []string{"api"}}),
		consumed("compliance.violation", map[string]any{"userId": uid, "violationType": "spam", "severity": "high"}),
	} {
		if err := v.Validate(ev); err != nil {
			t.Errorf("%s: %v", ev, err)
		}
	}
}

func TestConsumed_RejectsWhatCannotTakeEffect(t *testing.T) {
	v, err := eventschema.NewConsumed()
	if err != nil {
		t.Fatal(err)
	}
	for name, ev := range map[string][]byte{
		"not JSON":          []byte("{poison"),
		"no id":             []byte(`{"type":"campaign.created","data":{"userId":"` + uid + `","campaignId":"c"}}`),
		"unknown type":      consumed("campaign.deleted", map[string]any{"userId": uid}),
		"published type":    consumed("user.created", map[string]any{"userId": uid}),
		"missing field":     consumed("campaign.created", map[string]any{"userId": uid}),
		"user not a uuid":   consumed("campaign.created", map[string]any{"userId": "ada", "campaignId": "c"}),
		"bad severity":      consumed("compliance.violation", map[string]any{"userId": uid, "violationType": "x", "severity": "apocalyptic"}),
		"features not list": consumed("subscription.updated", map[string]any{"userId": uid, "plan": "pro", "features": "api"}),
	} {
		if err := v.Validate(ev); !errors.Is(err, eventschema.ErrSchemaViolation) {
			t.Errorf("%s: %v, want a schema violation", name, err)
		}
	}
}
