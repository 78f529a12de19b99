package migration

import (
	"slices"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		files    fstest.MapFS
		versions []int
		wantErr  bool
	}{
		{name: "ordered", files: fstest.MapFS{"m/0002_b.sql": {Data: []byte("B")}, "m/0001_a.sql": {Data: []byte("A")}}, versions: []int{1, 2}},
		// Steps of changes developed side by side may land out of order.
		{name: "gap", files: fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, versions: []int{1, 3}},
		{name: "same version twice", files: fstest.MapFS{"m/0001_a.sql": {}, "m/0002_b.sql": {}, "m/0002_c.sql": {}}, wantErr: true},
		{name: "no version", files: fstest.MapFS{"m/init.sql": {}}, wantErr: true},
		{name: "version zero", files: fstest.MapFS{"m/0000_a.sql": {}, "m/0001_b.sql": {}}, wantErr: true},
		{name: "starts at two", files: fstest.MapFS{"m/0002_b.sql": {}}, wantErr: true},
		{name: "no folder", files: fstest.MapFS{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			steps, err := Load(tt.files, "m")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var got []int
			for _, s := range steps {
				got = append(got, s.Version)
			}
			if !slices.Equal(got, tt.versions) {
				t.Fatalf("versions %v, want %v", got, tt.versions)
			}
			if tt.name == "ordered" && steps[0].SQL != "A" {
				t.Fatalf("step 1 SQL %q, want A", steps[0].SQL)
			}
		})
	}
}

func TestPending(t *testing.T) {
	t.Parallel()
	steps := []Step{{Version: 1}, {Version: 3}, {Version: 4}}
	for _, tc := range []struct {
		current int
		want    []int
		wantErr bool
	}{
		{0, []int{1, 3, 4}, false},
		{1, []int{3, 4}, false},
		{2, []int{3, 4}, false},
		{3, []int{4}, false},
		{4, nil, false},
		{5, nil, true},
	} {
		got, err := Pending(steps, tc.current)
		if (err != nil) != tc.wantErr {
			t.Fatalf("Pending(%d): err = %v, wantErr %v", tc.current, err, tc.wantErr)
		}
		var vs []int
		for _, s := range got {
			vs = append(vs, s.Version)
		}
		if !slices.Equal(vs, tc.want) {
			t.Errorf("Pending(%d) = %v, want %v", tc.current, vs, tc.want)
		}
	}
}
