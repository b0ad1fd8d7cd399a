// values.yaml as documentation: every value commented, free-form maps marked, every .Values path
// of the templates defined, every value used.
package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	yamlv3 "gopkg.in/yaml.v3"
)

// ValuesDoc is what the comments of values.yaml say.
type ValuesDoc struct {
	Uncommented []string        // value paths without a comment
	FreeForm    map[string]bool // paths of maps/lists whose comment says "free-form"
	Count       int             // values looked at
}

// ReadValuesDoc walks values.yaml's mappings. A key's comment is the comment block right above it
// or at the end of its line. A key whose comment contains "free-form" is not looked into.
func ReadValuesDoc(text []byte) (*ValuesDoc, error) {
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(text, &doc); err != nil {
		return nil, err
	}
	d := &ValuesDoc{FreeForm: map[string]bool{}}
	if len(doc.Content) == 0 {
		return d, nil
	}
	root := doc.Content[0]
	if root.Kind != yamlv3.MappingNode {
		return nil, fmt.Errorf("values.yaml is not a mapping")
	}
	d.walk(root, "")
	sort.Strings(d.Uncommented)
	return d, nil
}

func (d *ValuesDoc) walk(n *yamlv3.Node, prefix string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := k.Value
		if prefix != "" {
			p = prefix + "." + k.Value
		}
		d.Count++
		comment := k.HeadComment + k.LineComment + v.LineComment
		if strings.TrimSpace(comment) == "" {
			d.Uncommented = append(d.Uncommented, p)
		}
		if strings.Contains(strings.ToLower(comment), "free-form") {
			d.FreeForm[p] = true
			continue
		}
		if v.Kind == yamlv3.MappingNode {
			d.walk(v, p)
		}
	}
}

// UnderFreeForm tells whether path p is a free-form map or lies inside one.
func (d *ValuesDoc) UnderFreeForm(p string) bool {
	for f := range d.FreeForm {
		if p == f || strings.HasPrefix(p, f+".") {
			return true
		}
	}
	return false
}

var (
	// `.Values.a.b` and `$.Values.a.b`.
	valuesPathRE = regexp.MustCompile(`\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)*)`)
	// A template action; template comments ({{/* */}}) are matched too and skipped.
	actionRE = regexp.MustCompile(`(?s)\{\{-?\s*(/\*)?.*?\}\}`)
)

// TemplateValuePaths returns every .Values path written in the templates' actions (text outside
// {{ }} and template comments do not count), with the templates that use it. A bare ".Values"
// is recorded as "".
func TemplateValuePaths(c *Chart) map[string][]string {
	paths := map[string][]string{}
	for _, name := range sortedKeys(c.Templates) {
		seen := map[string]bool{}
		for _, action := range actionRE.FindAllStringSubmatch(c.Templates[name], -1) {
			if action[1] != "" {
				continue
			}
			for _, m := range valuesPathRE.FindAllStringSubmatch(action[0], -1) {
				p := strings.TrimPrefix(m[1], ".")
				if !seen[p] {
					seen[p] = true
					paths[p] = append(paths[p], name)
				}
			}
		}
	}
	return paths
}

// Lookup follows a dotted path through nested maps. It reports whether every step exists.
func Lookup(values map[string]interface{}, p string) (interface{}, bool) {
	if p == "" {
		return values, true
	}
	var cur interface{} = values
	for _, part := range strings.Split(p, ".") {
		m, ok := cur.(map[string]interface{})
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// MissingPaths lists the template paths values.yaml does not define (free-form maps excepted).
func MissingPaths(used map[string][]string, defaults map[string]interface{}, doc *ValuesDoc) []string {
	var missing []string
	for p, where := range used {
		if _, ok := Lookup(defaults, p); ok || doc.UnderFreeForm(p) {
			continue
		}
		missing = append(missing, fmt.Sprintf(".Values.%s (in %s)", p, strings.Join(where, ", ")))
	}
	sort.Strings(missing)
	return missing
}

// Leaves lists the value paths of a values tree: scalars, lists, empty maps and free-form maps.
func Leaves(values map[string]interface{}, doc *ValuesDoc) []string {
	var out []string
	var walk func(m map[string]interface{}, prefix string)
	walk = func(m map[string]interface{}, prefix string) {
		for k, v := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			sub, isMap := v.(map[string]interface{})
			if isMap && len(sub) > 0 && !doc.FreeForm[p] {
				walk(sub, p)
				continue
			}
			out = append(out, p)
		}
	}
	walk(values, "")
	sort.Strings(out)
	return out
}

// UnusedValues lists values no template reads: no template path equals the value's path or one
// of its parents (a template reading a parent, e.g. toYaml .Values.server.resources, uses all of it).
func UnusedValues(defaults map[string]interface{}, used map[string][]string, doc *ValuesDoc) []string {
	var unused []string
	for _, leaf := range Leaves(defaults, doc) {
		ok := false
		for p := range used {
			if p == "" || p == leaf || strings.HasPrefix(leaf, p+".") {
				ok = true
				break
			}
		}
		if !ok {
			unused = append(unused, leaf)
		}
	}
	return unused
}

// UnknownOverrides lists the paths of an override values file that values.yaml does not define
// (a misspelt key in a values file is silently ignored by helm).
func UnknownOverrides(over, defaults map[string]interface{}, doc *ValuesDoc) []string {
	var unknown []string
	var walk func(m map[string]interface{}, prefix string)
	walk = func(m map[string]interface{}, prefix string) {
		for k, v := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			if doc.UnderFreeForm(p) {
				continue
			}
			if _, ok := Lookup(defaults, p); !ok {
				unknown = append(unknown, p)
				continue
			}
			if sub, ok := v.(map[string]interface{}); ok {
				walk(sub, p)
			}
		}
	}
	walk(over, "")
	sort.Strings(unknown)
	return unknown
}
