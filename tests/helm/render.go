// Rendering of a Helm chart without helm: Go's text/template with the sprig function library (what
// helm's engine is built on) plus the functions and built-in objects helm adds. Only what charts
// of this project need is implemented; each difference from helm is listed in the chart README.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

// Metadata is Chart.yaml, with the field names helm exposes as .Chart (chart.Metadata).
type Metadata struct {
	APIVersion   string            `json:"apiVersion,omitempty"`
	Name         string            `json:"name,omitempty"`
	Version      string            `json:"version,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Description  string            `json:"description,omitempty"`
	Type         string            `json:"type,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Dependencies []interface{}     `json:"dependencies,omitempty"`
	Maintainers  []Maintainer      `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
}

// Maintainer is one entry of Chart.yaml's maintainers.
type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

// Chart is a chart directory as loaded for rendering.
type Chart struct {
	Dir        string
	Meta       *Metadata
	Templates  map[string]string // "<chart>/templates/<file>" → text, as helm names them
	Files      Files             // every other file, by path relative to the chart
	ValuesText []byte            // values.yaml
}

// Files is .Files: the chart's non-template files.
type Files map[string][]byte

// Get returns a file's text, or "" when the chart has no such file (as helm does).
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's bytes.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Lines returns a file's lines.
func (f Files) Lines(name string) []string {
	if f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

// KubeVersion is .Capabilities.KubeVersion.
type KubeVersion struct {
	Version string // "v1.28.0"
	Major   string
	Minor   string
}

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

// VersionSet is .Capabilities.APIVersions.
type VersionSet []string

// Has tells whether "group/version" or "group/version/Kind" is served.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// Capabilities is .Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// Release is what becomes .Release.
type Release struct {
	Name      string
	Namespace string
	IsUpgrade bool
}

// LoadChart reads Chart.yaml, values.yaml, templates/ and the other files of a chart directory.
func LoadChart(dir string) (*Chart, error) {
	c := &Chart{Dir: dir, Templates: map[string]string{}, Files: Files{}}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	c.Meta = &Metadata{}
	// Strict: an unknown or misspelt field in Chart.yaml is an error here (helm ignores it).
	if err := yaml.UnmarshalStrict(raw, c.Meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	if c.ValuesText, err = os.ReadFile(filepath.Join(dir, "values.yaml")); err != nil {
		return nil, err
	}
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			c.Templates[c.Meta.Name+"/"+rel] = string(data)
		} else if rel != "Chart.yaml" && rel != "values.yaml" {
			c.Files[rel] = data
		}
		return nil
	})
	return c, err
}

// ParseValues reads a values file the way helm does (YAML to JSON types: numbers are float64).
func ParseValues(text []byte) (map[string]interface{}, error) {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(text, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// MergeValues lays `over` onto a copy of `base` as helm does with -f: maps merge key by key, any
// other value replaces, and null deletes the key.
func MergeValues(base, over map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		if bm, ok := out[k].(map[string]interface{}); ok {
			if om, ok := v.(map[string]interface{}); ok {
				out[k] = MergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// Rendered is the output of one render: text per template, before and after helm's "<no value>"
// clean-up, and the errors of the templates that failed.
type Rendered struct {
	Out    map[string]string // template name → text (helm's output)
	Raw    map[string]string // the same before "<no value>" is blanked
	Errors []string
}

// RenderOptions selects helm's strict mode (missingkey=error, as `helm lint --strict`) or its
// default (missingkey=zero).
type RenderOptions struct {
	Strict bool
}

// toYAML, fromYAML, toJSON, fromJSON and required are helm's own (pkg/engine/funcs.go).
func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(str string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func required(warn string, val interface{}) (interface{}, error) {
	if val == nil {
		return val, fmt.Errorf("%s", warn)
	}
	if s, ok := val.(string); ok && s == "" {
		return val, fmt.Errorf("%s", warn)
	}
	return val, nil
}

const recursionMax = 1000

// funcMap is sprig's text functions as helm keeps them (without env/expandenv), helm's additions,
// and include/tpl bound to the template set `t`.
func funcMap(t *template.Template, included map[string]int, strict bool) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["required"] = required
	// helm template (no cluster) answers lookup with an empty map.
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	f["include"] = includeFunc(t, included)
	f["tpl"] = tplFunc(t, included, strict)
	return f
}

func includeFunc(t *template.Template, included map[string]int) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		if included[name] > recursionMax {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		included[name]++
		defer func() { included[name]-- }()
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
}

func tplFunc(parent *template.Template, included map[string]int, strict bool) func(string, interface{}) (string, error) {
	return func(text string, vals interface{}) (string, error) {
		t, err := parent.Clone()
		if err != nil {
			return "", err
		}
		t.Option(missingKey(strict))
		t.Funcs(template.FuncMap{"include": includeFunc(t, included), "tpl": tplFunc(t, included, strict)})
		name := "tpl"
		if top, ok := vals.(map[string]interface{}); ok {
			if tmpl, ok := top["Template"].(map[string]interface{}); ok {
				if n, ok := tmpl["Name"].(string); ok && n != "" {
					name = n
				}
			}
		}
		t, err = t.New(name).Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %v", text, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %v", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

func missingKey(strict bool) string {
	if strict {
		return "missingkey=error"
	}
	return "missingkey=zero"
}

var defineRE = regexp.MustCompile(`\{\{-?\s*define\s+"([^"]+)"`)

// DuplicateDefines lists named templates defined more than once (helm silently keeps one).
func DuplicateDefines(c *Chart) []string {
	seen := map[string]string{}
	var dups []string
	for _, name := range sortedKeys(c.Templates) {
		for _, m := range defineRE.FindAllStringSubmatch(c.Templates[name], -1) {
			if first, ok := seen[m[1]]; ok {
				dups = append(dups, fmt.Sprintf("%q in %s and %s", m[1], first, name))
			} else {
				seen[m[1]] = name
			}
		}
	}
	return dups
}

// Render renders every template of the chart. Files whose name starts with "_" only hold
// definitions and produce no output, as in helm.
func Render(c *Chart, values map[string]interface{}, rel Release, caps Capabilities, opts RenderOptions) *Rendered {
	r := &Rendered{Out: map[string]string{}, Raw: map[string]string{}}
	t := template.New("gotpl")
	t.Option(missingKey(opts.Strict))
	included := map[string]int{}
	t.Funcs(funcMap(t, included, opts.Strict))
	names := sortedKeys(c.Templates)
	for _, name := range names {
		if _, err := t.New(name).Parse(c.Templates[name]); err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("parse error: %v", err))
		}
	}
	if len(r.Errors) > 0 {
		return r
	}
	release := map[string]interface{}{
		"Name":      rel.Name,
		"Namespace": rel.Namespace,
		"IsUpgrade": rel.IsUpgrade,
		"IsInstall": !rel.IsUpgrade,
		"Revision":  1,
		"Service":   "Helm",
	}
	if rel.IsUpgrade {
		release["Revision"] = 2
	}
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		top := map[string]interface{}{
			"Values":       values,
			"Release":      release,
			"Chart":        c.Meta,
			"Capabilities": caps,
			"Files":        c.Files,
			"Subcharts":    map[string]interface{}{},
			"Template":     map[string]interface{}{"Name": name, "BasePath": c.Meta.Name + "/templates"},
		}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, top); err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		r.Raw[name] = buf.String()
		r.Out[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return r
}

// helm's releaseutil.SplitManifests separator.
var docSep = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

// SplitDocs splits a rendered file into its YAML documents, dropping empty ones.
func SplitDocs(text string) []string {
	var docs []string
	for _, d := range docSep.Split(text, -1) {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
