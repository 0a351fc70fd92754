package syncer

import (
	"fmt"
	"testing"
	"time"
)

func TestToday(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		loc  *time.Location
		want string
	}{
		{"utc", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), time.UTC, "2026-12-01"},
		{"already tomorrow in Berlin", time.Date(2026, 12, 1, 23, 30, 0, 0, time.UTC), berlin, "2026-12-02"},
		{"still yesterday in Berlin before DST ends", time.Date(2026, 10, 24, 21, 59, 0, 0, time.UTC), berlin, "2026-10-24"},
		{"new year across zones", time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), berlin, "2027-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Today(tt.now, tt.loc)
			if got.Format(time.DateOnly) != tt.want || got.Location() != time.UTC || got.Hour() != 0 {
				t.Errorf("Today(%v, %v) = %v, want %s at midnight UTC", tt.now, tt.loc, got, tt.want)
			}
		})
	}
}

func TestPairs(t *testing.T) {
	today := time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		products []int64
		from, to int
		want     []string
	}{
		{"today only", []int64{14}, 0, 0, []string{"14@2026-12-30"}},
		{"across the year end", []int64{14, 15}, 1, 3, []string{"14@2026-12-31", "14@2027-01-01", "14@2027-01-02", "15@2026-12-31", "15@2027-01-01", "15@2027-01-02"}},
		{"empty range", []int64{14}, 3, 2, nil},
		{"no products", nil, 0, 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range Pairs(tt.products, today, tt.from, tt.to) {
				got = append(got, fmt.Sprintf("%d@%s", p.ProductID, p.Date.Format(time.DateOnly)))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Pairs = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestShard(t *testing.T) {
	today := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		products int
		days     int
		count    int
	}{
		{"one shard", 2, 30, 1},
		{"even split", 2, 30, 4},
		{"uneven split", 3, 23, 4},
		{"more shards than pairs", 1, 3, 8},
		{"max shards", 278, 30, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			products := make([]int64, tt.products)
			for i := range products {
				products[i] = int64(i + 1)
			}
			all := Pairs(products, today, 0, tt.days-1)
			seen := map[Pair]int{}
			minLen, maxLen := len(all), 0
			for i := 0; i < tt.count; i++ {
				mine, err := Shard(all, i, tt.count)
				if err != nil {
					t.Fatal(err)
				}
				again, _ := Shard(all, i, tt.count)
				if fmt.Sprint(mine) != fmt.Sprint(again) {
					t.Fatalf("shard %d is not deterministic", i)
				}
				for _, p := range mine {
					seen[p]++
				}
				minLen, maxLen = min(minLen, len(mine)), max(maxLen, len(mine))
			}
			if len(seen) != len(all) {
				t.Errorf("shards cover %d pairs, want %d", len(seen), len(all))
			}
			for p, n := range seen {
				if n != 1 {
					t.Errorf("%s is in %d shards, want 1", p, n)
				}
			}
			if maxLen-minLen > 1 {
				t.Errorf("shard sizes range from %d to %d, want at most one apart", minLen, maxLen)
			}
		})
	}
	for _, bad := range [][2]int{{0, 0}, {-1, 2}, {2, 2}} {
		if _, err := Shard(nil, bad[0], bad[1]); err == nil {
			t.Errorf("Shard(index %d, count %d) gave no error", bad[0], bad[1])
		}
	}
}
