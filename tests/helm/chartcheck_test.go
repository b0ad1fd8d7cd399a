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
		"create": true, "migrateDatabaseUrl": "postgresql://o", "serverDatabaseUrl": "postgresql://s",
		"proberDatabaseUrl": "postgresql://p", "tokenKey": "0123456789abcdef", "turnServers": "servers: []"}})
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
	if n := len(listAt(d.Body, "spec", "template", "spec", "volumes")); n != 4 {
		t.Errorf("%d volumes, want turn-servers, token-key, tls and tmp only", n)
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
		"create": true, "migrateDatabaseUrl": "postgresql://o", "serverDatabaseUrl": "postgresql://s",
		"proberDatabaseUrl": "postgresql://p", "tokenKey": "0123456789abcdef",
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

// The env entry `name` of container c, or nil.
func envEntry(c map[string]interface{}, name string) interface{} {
	for _, e := range listAt(c, "env") {
		if strAt(e, "name") == name {
			return e
		}
	}
	return nil
}

// The only container of the workload of `kind` whose name ends in `suffix`.
func onlyContainer(t *testing.T, objs []*Object, kind, suffix string) map[string]interface{} {
	t.Helper()
	o := findObject(objs, kind, suffix)
	if o == nil {
		t.Fatalf("no %s *%s rendered", kind, suffix)
	}
	cs := containers(mapAt(o.Body, "spec", "template", "spec"))
	if len(cs) != 1 {
		t.Fatalf("%s has %d containers", o.ID(), len(cs))
	}
	return cs[0]
}

// The Secret volume of workload `o` that container c mounts at the directory holding `file`.
func secretVolumeOf(t *testing.T, o *Object, c map[string]interface{}, file string) (mount, volume interface{}) {
	t.Helper()
	for _, m := range listAt(c, "volumeMounts") {
		if strings.HasPrefix(file, strAt(m, "mountPath")+"/") {
			mount = m
		}
	}
	if mount == nil {
		t.Fatalf("no volumeMount holds %s: %v", file, listAt(c, "volumeMounts"))
	}
	for _, v := range listAt(o.Body, "spec", "template", "spec", "volumes") {
		if strAt(v, "name") == strAt(mount, "name") {
			volume = v
		}
	}
	return mount, volume
}

func itemPaths(volume interface{}) map[string]string {
	items := map[string]string{}
	for _, it := range listAt(volume, "secret", "items") {
		items[strAt(it, "key")] = strAt(it, "path")
	}
	return items
}

// The migration Job, the server and the prober each connect with a URL of their own Secret: the
// owner, a member of advisor_server and a member of advisor_prober.
func TestChartGivesEachProgramItsOwnDatabaseLogin(t *testing.T) {
	_, objs := renderChart(t, nil)
	want := map[string][2]string{
		"-migrate": {"Job", "connectivity-advisor-database-migrate"},
		"-server":  {"Deployment", "connectivity-advisor-database-server"},
		"-prober":  {"Deployment", "connectivity-advisor-database-prober"},
	}
	for suffix, w := range want {
		c := onlyContainer(t, objs, w[0], suffix)
		ref := mapAt(envEntry(c, "ADVISOR_DATABASE_URL"), "valueFrom", "secretKeyRef")
		if strAt(ref, "name") != w[1] || strAt(ref, "key") != "url" {
			t.Errorf("%s%s: ADVISOR_DATABASE_URL from %v, want Secret %s key url", w[0], suffix, ref, w[1])
		}
	}

	// The chart-made Secret holds three URLs under keys of their own.
	r, objs := renderChart(t, map[string]interface{}{"secrets": map[string]interface{}{
		"create": true, "migrateDatabaseUrl": "postgresql://owner", "serverDatabaseUrl": "postgresql://server",
		"proberDatabaseUrl": "postgresql://prober", "tokenKey": "0123456789abcdef", "turnServers": "servers: []",
		"authKeys": `{"keys":[]}`}})
	if len(r.Errors) > 0 {
		t.Fatal(r.Errors)
	}
	secret := findObject(objs, "Secret", "-secrets")
	urls := map[string]string{"-migrate": "postgresql://owner", "-server": "postgresql://server", "-prober": "postgresql://prober"}
	for suffix, w := range want {
		c := onlyContainer(t, objs, w[0], suffix)
		ref := mapAt(envEntry(c, "ADVISOR_DATABASE_URL"), "valueFrom", "secretKeyRef")
		got, _ := base64.StdEncoding.DecodeString(strAt(secret.Body, "data", strAt(ref, "key")))
		if strAt(ref, "name") != secret.Name || string(got) != urls[suffix] {
			t.Errorf("%s%s: ADVISOR_DATABASE_URL from %v = %q, want %q", w[0], suffix, ref, got, urls[suffix])
		}
	}
}

// The token key is a file from its Secret, in no environment variable.
func TestChartMountsTheTokenKeyAsAFile(t *testing.T) {
	_, objs := renderChart(t, nil)
	env, c, d := serverEnv(t, objs)
	if envEntry(c, "ADVISOR_TOKEN_KEY") != nil {
		t.Error("ADVISOR_TOKEN_KEY is still an environment variable")
	}
	file := env["ADVISOR_TOKEN_KEY_FILE"]
	if file != "/etc/connectivity-advisor/token/token.key" {
		t.Fatalf("ADVISOR_TOKEN_KEY_FILE = %q", file)
	}
	_, volume := secretVolumeOf(t, d, c, file)
	if strAt(volume, "secret", "secretName") != "connectivity-advisor-token" ||
		itemPaths(volume)["token-key"] != "token.key" || len(itemPaths(volume)) != 1 {
		t.Errorf("the token key volume is not key token-key of connectivity-advisor-token: %v", volume)
	}
}

// TLS by default, from a cert-manager style Secret mounted without subPath; client certificates
// with requireClientCerts; plaintext only with insecure.
func TestChartServesTLSFromACertManagerSecret(t *testing.T) {
	_, objs := renderChart(t, nil)
	env, c, d := serverEnv(t, objs)
	if _, ok := env["ADVISOR_INSECURE"]; ok {
		t.Error("ADVISOR_INSECURE is set by default")
	}
	if env["ADVISOR_TLS_CERT_FILE"] != "/etc/connectivity-advisor/tls/tls.crt" ||
		env["ADVISOR_TLS_KEY_FILE"] != "/etc/connectivity-advisor/tls/tls.key" {
		t.Fatalf("TLS files: cert %q key %q", env["ADVISOR_TLS_CERT_FILE"], env["ADVISOR_TLS_KEY_FILE"])
	}
	if _, ok := env["ADVISOR_TLS_CLIENT_CA_FILE"]; ok {
		t.Error("client certificates are required by default")
	}
	mount, volume := secretVolumeOf(t, d, c, env["ADVISOR_TLS_CERT_FILE"])
	if strAt(mount, "subPath") != "" || at(mount, "readOnly") != true {
		t.Errorf("the TLS mount must be read-only and without subPath (renewal): %v", mount)
	}
	items := itemPaths(volume)
	if strAt(volume, "secret", "secretName") != "connectivity-advisor-tls" || len(items) != 2 ||
		items["tls.crt"] != "tls.crt" || items["tls.key"] != "tls.key" {
		t.Errorf("the TLS volume is not tls.crt and tls.key of connectivity-advisor-tls: %v", volume)
	}
	if at(c, "livenessProbe", "grpc") != nil || at(c, "readinessProbe", "grpc") != nil {
		t.Error("a plaintext gRPC probe against a TLS port")
	}

	_, objs = renderChart(t, map[string]interface{}{"tls": map[string]interface{}{
		"existingSecret": "edge-cert", "requireClientCerts": true}})
	env, c, d = serverEnv(t, objs)
	if env["ADVISOR_TLS_CLIENT_CA_FILE"] != "/etc/connectivity-advisor/tls/ca.crt" {
		t.Errorf("requireClientCerts: ADVISOR_TLS_CLIENT_CA_FILE = %q", env["ADVISOR_TLS_CLIENT_CA_FILE"])
	}
	_, volume = secretVolumeOf(t, d, c, env["ADVISOR_TLS_CERT_FILE"])
	if strAt(volume, "secret", "secretName") != "edge-cert" || itemPaths(volume)["ca.crt"] != "ca.crt" {
		t.Errorf("requireClientCerts: the volume lacks ca.crt of edge-cert: %v", volume)
	}

	_, objs = renderChart(t, map[string]interface{}{"tls": map[string]interface{}{"insecure": true}})
	env, c, _ = serverEnv(t, objs)
	if env["ADVISOR_INSECURE"] != "true" || env["ADVISOR_TLS_CERT_FILE"] != "" {
		t.Errorf("insecure: ADVISOR_INSECURE %q, ADVISOR_TLS_CERT_FILE %q", env["ADVISOR_INSECURE"], env["ADVISOR_TLS_CERT_FILE"])
	}
	if at(c, "readinessProbe", "grpc") == nil {
		t.Error("insecure: the readiness probe is not the gRPC health check")
	}

	r, _ := renderChart(t, map[string]interface{}{"tls": map[string]interface{}{"existingSecret": ""}})
	if !strings.Contains(strings.Join(r.Errors, "\n"), "tls.existingSecret is required") {
		t.Errorf("rendered without a certificate and without insecure: errors %v", r.Errors)
	}
}

// No secret reaches a container as a literal: every env value of every workload is a setting, and
// secret material comes from secretKeyRef or files.
func TestChartPutsNoSecretInPlainEnvironment(t *testing.T) {
	for _, values := range []map[string]interface{}{nil, {"secrets": map[string]interface{}{
		"create": true, "migrateDatabaseUrl": "postgresql://owner:pw-1@db/advisor",
		"serverDatabaseUrl": "postgresql://server:pw-2@db/advisor", "proberDatabaseUrl": "postgresql://prober:pw-3@db/advisor",
		"tokenKey": "token-key-secret-0123", "turnServers": "servers: []", "authKeys": `{"keys":[]}`}}} {
		r, objs := renderChart(t, values)
		if len(r.Errors) > 0 {
			t.Fatal(r.Errors)
		}
		byID := map[string]*Object{}
		for _, o := range objs {
			byID[o.ID()] = o
		}
		for _, w := range workloads(objs) {
			for _, c := range containers(w.Pod) {
				for name, v := range resolveEnv(c, byID) {
					for _, secret := range []string{"pw-1", "pw-2", "pw-3", "token-key-secret"} {
						if strings.Contains(v, secret) {
							t.Errorf("%s: env %s holds a secret in plain text", w.Obj.ID(), name)
						}
					}
				}
			}
		}
	}
}
