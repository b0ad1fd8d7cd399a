// Self-tests of the chart check: it fails on a chart with known faults, and its renderer behaves
// as helm's does for the functions and objects the chart uses.
package main

import (
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBrokenChartFailsForEachFault(t *testing.T) {
	var out strings.Builder
	r := Run(Options{
		ChartDir:    "testdata/broken-chart",
		Same:        map[string]string{"files/alerts.yaml": "testdata/broken-chart/other-alerts.yaml"},
		KubeVersion: "v1.28.0",
		Namespace:   "test",
		Release:     "rel",
		UID:         10001,
		Out:         &out,
	})
	if len(r.Failures) == 0 {
		t.Fatalf("the broken chart passed:\n%s", out.String())
	}
	// One line per planted fault; each must be reported.
	want := []string{
		"values.yaml: undocumented has no comment",
		"values.yaml: unused is read by no template",
		".Values.image.nope (in broken-chart/templates/deployment.yaml), which values.yaml does not define",
		"ci/typo.yaml sets imagee, which values.yaml does not define",
		"files/alerts.yaml differs from testdata/broken-chart/other-alerts.yaml",
		"PodDisruptionBudget/broken: apiVersion policy/v1beta1 (current: policy/v1)",
		"Deployment/broken metadata.labels: label app.kubernetes.io/part-of is set",
		"Deployment/broken pod template: label app.kubernetes.io/part-of is set",
		"Deployment/broken: spec.selector.matchLabels",
		"Service/broken: selector",
		"container app env PASSWORD: Secret/somewhere key \"password\" is neither created by the chart nor declared external",
		"Deployment/broken container app: has a readinessProbe",
		"Deployment/broken container app: readOnlyRootFilesystem",
		"Deployment/broken container app: terminationGracePeriodSeconds (10) exceeds ADVISOR_SHUTDOWN_TIMEOUT (30s)",
		"Deployment/broken container app: volumeMount keys of a Secret volume has no subPath",
		"Deployment/broken container app: APP_KEYS_FILE=/etc/app/keys/keys.json lies inside a volumeMount",
		"Deployment/broken container app: APP_CA_FILE=/etc/app/ca/other.pem is a file volume ca puts there",
	}
	for _, w := range want {
		found := false
		for _, f := range r.Failures {
			if strings.Contains(f, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no failure reported containing %q", w)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", out.String())
	}
}

// writeChart makes a throwaway chart from file name → text.
func writeChart(t *testing.T, files map[string]string) string {
	dir := filepath.Join(t.TempDir(), "demo")
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func render(t *testing.T, dir string, values map[string]interface{}) *Rendered {
	c, err := LoadChart(dir)
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := ParseValues(c.ValuesText)
	if err != nil {
		t.Fatal(err)
	}
	caps := Capabilities{KubeVersion: kubeVersion("v1.28.0"), APIVersions: builtinAPIVersions()}
	return Render(c, MergeValues(defaults, values), Release{Name: "rel", Namespace: "ns"}, caps, RenderOptions{Strict: true})
}

func TestRendererHelmObjectsAndFunctions(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"Chart.yaml":       "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"4.5\"\n",
		"values.yaml":      "a:\n  b: 2\n  list: [x, z]\nword: hello\nempty: \"\"\ngone: here\n",
		"files/f.txt":      "file text",
		"templates/_h.tpl": `{{- define "demo.greet" -}}hi {{ .word }}{{- end -}}`,
		"templates/out.yaml": `name: {{ .Chart.Name }}-{{ .Chart.Version }}-{{ .Chart.AppVersion }}
release: {{ .Release.Name }}/{{ .Release.Namespace }}/{{ .Release.Service }}/{{ .Release.IsInstall }}
template: {{ .Template.Name }} {{ .Template.BasePath }}
include: {{ include "demo.greet" .Values }}
tpl: {{ tpl "{{ .Values.word }}-{{ .Release.Name }}" . }}
toYaml: {{ toYaml .Values.a | nindent 2 }}
fromYaml: {{ (fromYaml "k: v").k }}
fromYamlError: {{ hasKey (fromYaml ": :") "Error" }}
file: {{ .Files.Get "files/f.txt" }}
missingFile: "{{ .Files.Get "nope" }}"
has: {{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}
kube: {{ .Capabilities.KubeVersion.Major }}.{{ .Capabilities.KubeVersion.Minor }}
gone: {{ hasKey .Values "gone" }}
number: {{ .Values.a.b }}
`,
	})
	r := render(t, dir, map[string]interface{}{"gone": nil, "word": "world"})
	if len(r.Errors) > 0 {
		t.Fatalf("render errors: %v", r.Errors)
	}
	got := r.Out["demo/templates/out.yaml"]
	for _, want := range []string{
		"name: demo-1.2.3-4.5\n",
		"release: rel/ns/Helm/true\n",
		"template: demo/templates/out.yaml demo/templates\n",
		"include: hi world\n",
		"tpl: world-rel\n",
		"toYaml: \n  b: 2\n  list:\n  - x\n  - z\n",
		"fromYaml: v\n",
		"fromYamlError: true\n",
		"file: file text\n",
		"missingFile: \"\"\n",
		"has: true false\n",
		"kube: 1.28\n",
		"gone: false\n", // null in an override deletes the key, as helm's coalescing does
		"number: 2\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q; got:\n%s", want, got)
		}
	}
	if _, ok := r.Out["demo/templates/_h.tpl"]; ok {
		t.Error("a file starting with _ produced output")
	}
}

func TestRendererRequiredAndStrictMissingKey(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"Chart.yaml":         "apiVersion: v2\nname: demo\nversion: 1.0.0\n",
		"values.yaml":        "empty: \"\"\nm: {}\n",
		"templates/req.yaml": `x: {{ required "empty must be set" .Values.empty }}`,
		"templates/mis.yaml": `x: {{ .Values.m.absent }}`,
	})
	r := render(t, dir, nil)
	joined := strings.Join(r.Errors, "\n")
	if !strings.Contains(joined, "empty must be set") {
		t.Errorf("required did not fail: %v", r.Errors)
	}
	if !strings.Contains(joined, "absent") {
		t.Errorf("a missing key did not fail in strict mode: %v", r.Errors)
	}
}

func TestExternalRefsFromValues(t *testing.T) {
	ext := ExternalRefs(map[string]interface{}{
		"db":    map[string]interface{}{"existingSecret": "pg", "key": "url", "port": 5432.0},
		"token": map[string]interface{}{"existingSecret": "tok", "key": "k", "previousKey": "p"},
		"off":   map[string]interface{}{"existingSecret": "", "key": "x"},
	})
	if !ext["Secret/pg"]["url"] || !ext["Secret/tok"]["k"] || !ext["Secret/tok"]["p"] {
		t.Errorf("declared keys missing: %v", ext)
	}
	if len(ext) != 2 {
		t.Errorf("an empty existingSecret counted as external: %v", ext)
	}
}

// The real chart, rendered with overrides of its defaults, and its objects (nil when the render
// failed: the errors are in the Rendered).
func renderChart(t *testing.T, values map[string]interface{}) (*Rendered, []*Object) {
	t.Helper()
	r := render(t, "../../helm/connectivity-advisor", values)
	if len(r.Errors) > 0 {
		return r, nil
	}
	rep := &Report{W: io.Discard}
	objs := ParseObjects(rep, r.Out)
	if len(rep.Failures) > 0 {
		t.Fatalf("rendered manifests do not parse: %v", rep.Failures)
	}
	return r, objs
}

func findObject(objs []*Object, kind, suffix string) *Object {
	for _, o := range objs {
		if o.Kind == kind && strings.HasSuffix(o.Name, suffix) {
			return o
		}
	}
	return nil
}

// The server's environment (ConfigMap and env) and its container, from a render of the chart.
func serverEnv(t *testing.T, objs []*Object) (map[string]string, map[string]interface{}, *Object) {
	t.Helper()
	d := findObject(objs, "Deployment", "-server")
	if d == nil {
		t.Fatal("no server Deployment rendered")
	}
	byID := map[string]*Object{}
	for _, o := range objs {
		byID[o.ID()] = o
	}
	cs := containers(mapAt(d.Body, "spec", "template", "spec"))
	if len(cs) != 1 {
		t.Fatalf("server Deployment has %d containers", len(cs))
	}
	return resolveEnv(cs[0], byID), cs[0], d
}

func TestChartMountsAuthKeysFromSecretWithoutSubPath(t *testing.T) {
	_, objs := renderChart(t, nil)
	env, c, d := serverEnv(t, objs)
	file := env["ADVISOR_AUTH_KEYS_FILE"]
	if file != "/etc/connectivity-advisor/auth/jwks.json" {
		t.Fatalf("ADVISOR_AUTH_KEYS_FILE = %q", file)
	}
	if env["ADVISOR_AUTH_AUDIENCE"] != "connectivity-advisor" || env["ADVISOR_RATE_LIMIT"] != "10" ||
		env["ADVISOR_RATE_LIMIT_BURST"] != "20" || env["ADVISOR_MAX_REPORTS_PER_IDENTITY"] != "3" ||
		env["ADVISOR_TURN_CREDENTIAL_TTL"] != "10m" {
		t.Errorf("auth and limit settings not at their documented defaults: %v", env)
	}
	if _, ok := env["ADVISOR_ALLOW_ANONYMOUS"]; ok {
		t.Error("ADVISOR_ALLOW_ANONYMOUS is set by default")
	}
	var mount map[string]interface{}
	for _, m := range listAt(c, "volumeMounts") {
		if strings.HasPrefix(file, strAt(m, "mountPath")+"/") {
			mount, _ = m.(map[string]interface{})
		}
	}
	if mount == nil {
		t.Fatalf("no volumeMount holds %s: %v", file, listAt(c, "volumeMounts"))
	}
	if strAt(mount, "subPath") != "" || at(mount, "readOnly") != true {
		t.Errorf("the keys mount must be read-only and without subPath (key rotation): %v", mount)
	}
	var volume interface{}
	for _, v := range listAt(d.Body, "spec", "template", "spec", "volumes") {
		if strAt(v, "name") == strAt(mount, "name") {
			volume = v
		}
	}
	if strAt(volume, "secret", "secretName") != "connectivity-advisor-auth" {
		t.Fatalf("the keys volume is not the Secret auth.existingSecret: %v", volume)
	}
	items := listAt(volume, "secret", "items")
	if len(items) != 1 || strAt(items[0], "key") != "jwks.json" || strAt(items[0], "path") != "jwks.json" {
		t.Errorf("the keys volume does not put key jwks.json at jwks.json: %v", items)
	}

	// Another key name moves the item, not the path the server reads.
	_, objs = renderChart(t, map[string]interface{}{"auth": map[string]interface{}{"key": "keys", "audience": "aud.example"}})
	env, _, d = serverEnv(t, objs)
	if env["ADVISOR_AUTH_KEYS_FILE"] != file || env["ADVISOR_AUTH_AUDIENCE"] != "aud.example" {
		t.Errorf("with auth.key and auth.audience set: %v", env)
	}
	found := false
	for _, v := range listAt(d.Body, "spec", "template", "spec", "volumes") {
		for _, it := range listAt(v, "secret", "items") {
			if strAt(v, "secret", "secretName") == "connectivity-advisor-auth" && strAt(it, "key") == "keys" {
				found = true
			}
		}
	}
	if !found {
		t.Error("auth.key does not select the Secret's key")
	}
}

func TestChartRefusesToRenderWithoutKeysUnlessAnonymous(t *testing.T) {
	noKeys := map[string]interface{}{"auth": map[string]interface{}{"existingSecret": ""}}
	r, _ := renderChart(t, noKeys)
	if !strings.Contains(strings.Join(r.Errors, "\n"), "auth.existingSecret is required") {
		t.Fatalf("rendered without a JWKS Secret: errors %v", r.Errors)
	}
	// secrets.create without secrets.authKeys has no keys either.
	r, _ = renderChart(t, map[string]interface{}{"secrets": map[string]interface{}{
		"create": true, "databaseUrl": "postgresql://x", "tokenKey": "0123456789abcdef", "turnServers": "servers: []"}})
	if !strings.Contains(strings.Join(r.Errors, "\n"), "auth.existingSecret is required") {
		t.Fatalf("rendered with secrets.create and no secrets.authKeys: errors %v", r.Errors)
	}

	r, objs := renderChart(t, map[string]interface{}{"auth": map[string]interface{}{"existingSecret": "", "allowAnonymous": true}})
	if len(r.Errors) > 0 {
		t.Fatalf("allowAnonymous without keys does not render: %v", r.Errors)
	}
	env, c, d := serverEnv(t, objs)
	if env["ADVISOR_ALLOW_ANONYMOUS"] != "true" {
		t.Errorf("ADVISOR_ALLOW_ANONYMOUS = %q", env["ADVISOR_ALLOW_ANONYMOUS"])
	}
	if _, ok := env["ADVISOR_AUTH_KEYS_FILE"]; ok {
		t.Error("ADVISOR_AUTH_KEYS_FILE names a file that is not mounted")
	}
	for _, m := range listAt(c, "volumeMounts") {
		if strings.Contains(strAt(m, "mountPath"), "/auth") {
			t.Errorf("a keys volume is mounted without keys: %v", m)
		}
	}
	if n := len(listAt(d.Body, "spec", "template", "spec", "volumes")); n != 2 {
		t.Errorf("%d volumes, want turn-servers and tmp only", n)
	}
	notes := r.Out["connectivity-advisor/templates/NOTES.txt"]
	if !strings.Contains(notes, "WARNING: auth.allowAnonymous is true") {
		t.Errorf("NOTES.txt does not warn about anonymous callers:\n%s", notes)
	}
	r, _ = renderChart(t, nil)
	if strings.Contains(r.Out["connectivity-advisor/templates/NOTES.txt"], "allowAnonymous") {
		t.Error("NOTES.txt warns about anonymous callers by default")
	}
}

func TestChartMadeSecretCarriesTheKeys(t *testing.T) {
	jwks := `{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]}`
	r, objs := renderChart(t, map[string]interface{}{"secrets": map[string]interface{}{
		"create": true, "databaseUrl": "postgresql://x", "tokenKey": "0123456789abcdef",
		"turnServers": "servers: []", "authKeys": jwks}})
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	secret := findObject(objs, "Secret", "-secrets")
	if secret == nil {
		t.Fatal("no chart-made Secret")
	}
	got, err := base64.StdEncoding.DecodeString(strAt(secret.Body, "data", "jwks.json"))
	if err != nil || string(got) != jwks {
		t.Errorf("Secret key jwks.json = %q (%v)", got, err)
	}
	_, _, d := serverEnv(t, objs)
	ok := false
	for _, v := range listAt(d.Body, "spec", "template", "spec", "volumes") {
		ok = ok || strAt(v, "secret", "secretName") == secret.Name && strAt(listAt(v, "secret", "items")[0], "key") == "jwks.json"
	}
	if !ok {
		t.Error("the server does not mount jwks.json from the chart-made Secret")
	}
}
