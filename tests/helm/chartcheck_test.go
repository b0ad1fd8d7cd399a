// Self-tests of the chart check: it fails on a chart with known faults, and its renderer behaves
// as helm's does for the functions and objects the chart uses.
package main

import (
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
