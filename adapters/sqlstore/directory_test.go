package sqlstore_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/sqlstore/sqlstoretest"
	"github.com/usermgmt/usermgmt/core/user"
)

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

// walk calls fn on n and every node below it.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

func (n planNode) String() string {
	s := n.NodeType
	if n.IndexName != "" {
		s += " on " + n.IndexName
	}
	if len(n.Plans) > 0 {
		var kids []string
		for _, c := range n.Plans {
			kids = append(kids, c.String())
		}
		s += " [" + strings.Join(kids, ", ") + "]"
	}
	return s
}

func explain(t *testing.T, db *sqlstore.DB, dir *sqlstore.Directory, q user.Query) planNode {
	t.Helper()
	stmt, err := dir.SearchSQL(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := db.Bun().NewRaw("EXPLAIN (FORMAT JSON) "+stmt).Scan(t.Context(), &out); err != nil {
		t.Fatalf("explain %s: %v", stmt, err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output %s: %v", out, err)
	}
	return plans[0].Plan
}

// TestPostgresDirectoryPlans: on a table big enough for the planner to
// care, a text search goes through the trigram index and a page in each
// order walks that order's index instead of sorting the table.
func TestPostgresDirectoryPlans(t *testing.T) {
	db := sqlstoretest.Postgres(t)
	ctx := t.Context()
	if err := sqlstore.SeedUsers(ctx, db, 20_000, seedHash, nil); err != nil {
		t.Fatal(err)
	}
	dir := sqlstore.NewDirectory(db)
	first, _, err := dir.Search(ctx, user.Query{Limit: 1, Sort: user.SortCreatedAt, Descending: true})
	if err != nil || len(first) != 1 {
		t.Fatalf("Search: %v, %d users", err, len(first))
	}

	// The number in a seed user's email: one user in 20,000 has it.
	local, _, _ := strings.Cut(first[0].Email(), "@")
	rare := local[strings.LastIndexByte(local, '.')+1:]
	plan := explain(t, db, dir, user.Query{Text: rare})
	trigram := false
	plan.walk(func(n planNode) { trigram = trigram || n.IndexName == "users_search_trgm_idx" })
	if !trigram {
		t.Errorf("q=%s: the plan does not use the trigram index: %v", rare, plan)
	}

	for _, sort := range []user.SortField{user.SortCreatedAt, user.SortEmail, user.SortLastLoginAt} {
		for _, desc := range []bool{false, true} {
			for _, paged := range []bool{false, true} {
				q := user.Query{Sort: sort, Descending: desc}
				if paged {
					k := user.KeyOf(first[0], sort)
					q.After = &k
				}
				plan := explain(t, db, dir, q)
				scan, sorted := false, false
				plan.walk(func(n planNode) {
					switch n.NodeType {
					case "Index Scan", "Index Only Scan":
						scan = true
					case "Sort", "Incremental Sort", "Seq Scan":
						sorted = true
					}
				})
				if !scan || sorted {
					t.Errorf("sort %s desc=%v paged=%v: want an index scan and no sort: %v", sort, desc, paged, plan)
				}
			}
		}
	}
}
