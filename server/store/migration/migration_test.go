package migration

import (
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
		{name: "gap", files: fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, wantErr: true},
		{name: "no version", files: fstest.MapFS{"m/init.sql": {}}, wantErr: true},
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
			for i, v := range tt.versions {
				if steps[i].Version != v {
					t.Fatalf("step %d has version %d, want %d", i, steps[i].Version, v)
				}
			}
			if tt.name == "ordered" && steps[0].SQL != "A" {
				t.Fatalf("step 1 SQL %q, want A", steps[0].SQL)
			}
		})
	}
}
