// chartcheck renders a Helm chart without helm (text/template + sprig + helm's own functions) for
// its default values, for every values file in its ci/ folder and for a release name of the
// maximum length, and checks the chart and the rendered manifests. It prints a report and exits
// non-zero on any failure.
//
//	chartcheck -chart helm/connectivity-advisor \
//	    -same files/alerts.yaml=deploy/prometheus/alerts.yaml [-v]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/Masterminds/semver"
)

// Options of one run.
type Options struct {
	ChartDir    string
	Same        map[string]string // chart file → file it must be a byte-identical copy of, when that exists
	KubeVersion string
	Namespace   string
	Release     string
	UID         float64 // uid every container must run as; 0 accepts any non-root uid
	Verbose     bool
	Out         io.Writer
	DumpDir     string // when set, each render's manifests are written to DumpDir/<render>.yaml
}

// A render: a name for the report, the override values file (or none) and the release name.
type renderCase struct {
	title    string
	override string
	release  string
}

// Run checks the chart and returns the report.
func Run(opts Options) *Report {
	r := &Report{W: opts.Out, Verbose: opts.Verbose}
	r.Section("chart %s", opts.ChartDir)
	c, err := LoadChart(opts.ChartDir)
	if err != nil {
		r.Fail("cannot load the chart: %v", err)
		return r
	}
	checkChartMeta(r, c, opts)
	for _, d := range DuplicateDefines(c) {
		r.Fail("named template defined twice: %s", d)
	}

	defaults, err := ParseValues(c.ValuesText)
	if err != nil {
		r.Fail("values.yaml: %v", err)
		return r
	}
	doc, err := ReadValuesDoc(c.ValuesText)
	if err != nil {
		r.Fail("values.yaml: %v", err)
		return r
	}
	for _, p := range doc.Uncommented {
		r.Fail("values.yaml: %s has no comment", p)
	}
	if len(doc.Uncommented) == 0 {
		r.Show(true, "values.yaml: every one of its %d values has a comment", doc.Count)
	}
	var free []string
	for p := range doc.FreeForm {
		free = append(free, p)
	}
	sort.Strings(free)
	r.Note("values.yaml: free-form (not looked into): %s", strings.Join(free, ", "))

	used := TemplateValuePaths(c)
	missing := MissingPaths(used, defaults, doc)
	for _, m := range missing {
		r.Fail("template reads %s, which values.yaml does not define", m)
	}
	if len(missing) == 0 {
		r.Show(true, "templates read %d distinct .Values paths, all defined in values.yaml", len(used))
	}
	unused := UnusedValues(defaults, used, doc)
	for _, p := range unused {
		r.Fail("values.yaml: %s is read by no template", p)
	}
	if len(unused) == 0 {
		r.Show(true, "every value in values.yaml is read by a template")
	}
	checkSameFiles(r, c, opts)

	cases := []renderCase{{"default values", "", opts.Release}}
	ciFiles, _ := filepath.Glob(filepath.Join(opts.ChartDir, "ci", "*.yaml"))
	sort.Strings(ciFiles)
	for _, f := range ciFiles {
		rel, _ := filepath.Rel(opts.ChartDir, f)
		cases = append(cases, renderCase{rel, f, opts.Release})
	}
	// helm allows release names of up to 53 characters; every object name must still fit and differ.
	cases = append(cases, renderCase{"default values, 53-character release name", "",
		strings.Repeat("r", 53-len("-long")) + "-long"})
	for _, rc := range cases {
		renderAndCheck(r, c, defaults, doc, rc, opts)
	}

	r.Section("summary")
	fmt.Fprintf(r.W, "  %d renders, %d checks passed, %d failed\n", len(cases), r.Passes, len(r.Failures))
	return r
}

func checkChartMeta(r *Report, c *Chart, opts Options) {
	m := c.Meta
	r.Show(m.APIVersion == "v2", "Chart.yaml: apiVersion v2 (Helm 3)")
	r.Show(m.Name == filepath.Base(filepath.Clean(opts.ChartDir)), "Chart.yaml: name %q is the directory name", m.Name)
	_, err := semver.NewVersion(m.Version)
	r.Show(err == nil, "Chart.yaml: version %q is SemVer", m.Version)
	r.Show(m.AppVersion != "", "Chart.yaml: appVersion is set (the default image tag)")
	// Subcharts would need helm's value scoping and dependency handling, which this renderer lacks.
	r.Show(len(m.Dependencies) == 0, "Chart.yaml: no dependencies")
	if m.KubeVersion != "" {
		cons, err := semver.NewConstraint(m.KubeVersion)
		v, verr := semver.NewVersion(opts.KubeVersion)
		r.Show(err == nil && verr == nil && cons.Check(v), "Chart.yaml: kubeVersion %q admits %s (the version rendered for)",
			m.KubeVersion, opts.KubeVersion)
	}
}

func checkSameFiles(r *Report, c *Chart, opts Options) {
	keys := make([]string, 0, len(opts.Same))
	for k := range opts.Same {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, rel := range keys {
		orig := opts.Same[rel]
		want, err := os.ReadFile(orig)
		if os.IsNotExist(err) {
			r.Note("%s does not exist (yet): %s not compared", orig, rel)
			continue
		}
		if err != nil {
			r.Fail("%s: %v", orig, err)
			continue
		}
		got, ok := c.Files[rel]
		if !r.Expect(ok, "%s exists in the chart (a copy of %s)", rel, orig) {
			continue
		}
		if bytes.Equal(got, want) {
			r.Show(true, "%s is byte-identical to %s", rel, orig)
			continue
		}
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		line := 0
		for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
			line++
		}
		r.Fail("%s differs from %s from line %d on: copy it again (cp %s %s)", rel, orig, line+1, orig,
			filepath.Join(opts.ChartDir, rel))
	}
}

func renderAndCheck(r *Report, c *Chart, defaults map[string]interface{}, doc *ValuesDoc, rc renderCase, opts Options) {
	rel := Release{Name: rc.release, Namespace: opts.Namespace}
	r.Section("render: %s (release %q, namespace %q)", rc.title, rel.Name, rel.Namespace)
	values := defaults
	if rc.override != "" {
		text, err := os.ReadFile(rc.override)
		if err != nil {
			r.Fail("%v", err)
			return
		}
		over, err := ParseValues(text)
		if err != nil {
			r.Fail("%s: %v", rc.title, err)
			return
		}
		for _, p := range UnknownOverrides(over, defaults, doc) {
			r.Fail("%s sets %s, which values.yaml does not define (helm would ignore it)", rc.title, p)
		}
		values = MergeValues(defaults, over)
	}
	caps := Capabilities{KubeVersion: kubeVersion(opts.KubeVersion), APIVersions: builtinAPIVersions(),
		HelmVersion: map[string]string{"Version": "v3"}}
	out := Render(c, values, rel, caps, RenderOptions{Strict: true})
	for _, e := range out.Errors {
		r.Fail("render: %s", e)
	}
	if len(out.Errors) > 0 {
		return
	}
	for _, name := range sortedKeys(out.Raw) {
		r.Expect(!strings.Contains(out.Raw[name], "<no value>"), "%s: prints no nil value (helm would blank it silently)", name)
	}
	notes := out.Out[c.Meta.Name+"/templates/NOTES.txt"]
	if r.Expect(strings.TrimSpace(notes) != "", "NOTES.txt renders to text") {
		fmt.Fprintf(r.W, "  NOTES.txt: %d lines\n", strings.Count(strings.TrimSpace(notes), "\n")+1)
		if opts.Verbose {
			for _, l := range strings.Split(strings.TrimRight(notes, "\n"), "\n") {
				fmt.Fprintf(r.W, "    | %s\n", l)
			}
		}
	}
	if opts.DumpDir != "" {
		dump(r, opts.DumpDir, rc.title, out.Out)
	}
	objs := ParseObjects(r, out.Out)
	fmt.Fprintf(r.W, "  objects (%d): %s\n", len(objs), ObjectList(objs))
	before := len(r.Failures)
	passes := r.Passes
	CheckObjects(r, objs, &Context{Release: rel, Values: values, RunAsUID: opts.UID})
	fmt.Fprintf(r.W, "  %d checks passed, %d failed\n", r.Passes-passes, len(r.Failures)-before)
}

// dump writes a render as `helm template` prints it: each template's output after a "# Source:" line.
func dump(r *Report, dir, title string, out map[string]string) {
	var b strings.Builder
	for _, name := range sortedKeys(out) {
		if strings.TrimSpace(out[name]) != "" {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(out[name]))
		}
	}
	file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "-", ",", "").Replace(title)+".yaml")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		err = os.WriteFile(file, []byte(b.String()), 0o644)
	}
	fmt.Fprintf(r.W, "  rendered manifests: %s\n", file)
}

func kubeVersion(v string) KubeVersion {
	sv, err := semver.NewVersion(v)
	if err != nil {
		return KubeVersion{Version: v}
	}
	return KubeVersion{Version: "v" + sv.String(), Major: fmt.Sprint(sv.Major()), Minor: fmt.Sprint(sv.Minor())}
}

// The API versions a plain cluster serves (what `helm template` assumes without --api-versions).
func builtinAPIVersions() VersionSet {
	return VersionSet{"v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "policy/v1",
		"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1"}
}

func main() {
	var same multiFlag
	opts := Options{Out: os.Stdout}
	flag.StringVar(&opts.ChartDir, "chart", "", "chart directory")
	flag.Var(&same, "same", "CHARTFILE=PATH: the chart file must be a byte-identical copy of PATH when PATH exists (repeatable)")
	flag.StringVar(&opts.KubeVersion, "kube-version", "v1.28.0", "Kubernetes version for .Capabilities and kubeVersion")
	flag.StringVar(&opts.Namespace, "namespace", "connectivity", "release namespace")
	flag.StringVar(&opts.Release, "release", "advisor", "release name")
	flag.Float64Var(&opts.UID, "uid", 10001, "uid every container must run as (0: any non-root uid)")
	flag.BoolVar(&opts.Verbose, "v", false, "list every passed check and print NOTES.txt")
	flag.StringVar(&opts.DumpDir, "out", "", "directory to write each render's manifests to")
	flag.Parse()
	if opts.ChartDir == "" {
		fmt.Fprintln(os.Stderr, "chartcheck: -chart is required")
		os.Exit(2)
	}
	opts.Same = map[string]string{}
	for _, s := range same {
		i := strings.Index(s, "=")
		if i < 0 {
			fmt.Fprintf(os.Stderr, "chartcheck: -same %q is not CHARTFILE=PATH\n", s)
			os.Exit(2)
		}
		opts.Same[s[:i]] = s[i+1:]
	}
	r := Run(opts)
	if len(r.Failures) > 0 {
		fmt.Fprintf(os.Stdout, "\nFAILED: %d problem(s)\n", len(r.Failures))
		os.Exit(1)
	}
	fmt.Fprintln(os.Stdout, "\nPASSED")
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
