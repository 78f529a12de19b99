package rpcserver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/peerhub/peerhub/internal/rpcserver"
	"github.com/peerhub/peerhub/internal/webui"
)

// TestDashboardOption: Options.Dashboard puts the dashboard at / (behind
// CORS like every route); without it / is not found.
func TestDashboardOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dashboard webui.Dashboard
		want      int
	}{
		{webui.Dashboard{}, http.StatusNotFound},
		{webui.Dashboard{Role: webui.RoleDirectory}, http.StatusOK},
		{webui.Dashboard{Role: webui.RolePeer, PeerName: "p1"}, http.StatusOK},
	} {
		s := rpcserver.New(rpcserver.Options{
			Dashboard: tc.dashboard,
			CORS:      rpcserver.CORS{Origins: []string{"https://app.example.com"}},
		})
		for _, path := range []string{webui.PagePath, webui.AssetPrefix + "api.js"} {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if rec.Code != tc.want {
				t.Errorf("dashboard %+v: GET %s is %d, want %d", tc.dashboard, path, rec.Code, tc.want)
			}
			if tc.want == http.StatusOK && rec.Header().Get("Content-Security-Policy") != webui.Policy {
				t.Errorf("dashboard %+v: GET %s without the dashboard's policy", tc.dashboard, path)
			}
		}
	}
}
