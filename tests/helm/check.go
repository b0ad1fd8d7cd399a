// Assertions on the rendered manifests of one values set.
package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Report prints failures as they are found and counts passed checks.
type Report struct {
	W        io.Writer
	Verbose  bool
	Passes   int
	Failures []string
}

func (r *Report) Section(format string, args ...interface{}) {
	fmt.Fprintf(r.W, "\n== %s ==\n", fmt.Sprintf(format, args...))
}

func (r *Report) Note(format string, args ...interface{}) {
	fmt.Fprintf(r.W, "  note  %s\n", fmt.Sprintf(format, args...))
}

func (r *Report) Pass(format string, args ...interface{}) {
	r.Passes++
	if r.Verbose {
		fmt.Fprintf(r.W, "  ok    %s\n", fmt.Sprintf(format, args...))
	}
}

func (r *Report) Fail(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	r.Failures = append(r.Failures, msg)
	fmt.Fprintf(r.W, "  FAIL  %s\n", msg)
}

// Show records a check and prints it whether it passed or not (for the chart-wide checks).
func (r *Report) Show(ok bool, format string, args ...interface{}) bool {
	if ok {
		r.Passes++
		fmt.Fprintf(r.W, "  ok    %s\n", fmt.Sprintf(format, args...))
		return true
	}
	r.Fail(format, args...)
	return false
}

// Expect records a check: passed when ok, else a failure with the message.
func (r *Report) Expect(ok bool, format string, args ...interface{}) bool {
	if ok {
		r.Pass(format, args...)
	} else {
		r.Fail(format, args...)
	}
	return ok
}

// Object is one rendered Kubernetes object.
type Object struct {
	Source      string // template it came from
	Kind        string
	APIVersion  string
	Name        string
	Namespace   string
	Labels      map[string]interface{}
	Annotations map[string]interface{}
	Body        map[string]interface{}
}

func (o *Object) ID() string { return o.Kind + "/" + o.Name }

// Hook returns the helm hook events of the object (nil when it is not a hook) and its weight.
func (o *Object) Hook() ([]string, int) {
	h, _ := o.Annotations["helm.sh/hook"].(string)
	if h == "" {
		return nil, 0
	}
	var events []string
	for _, e := range strings.Split(h, ",") {
		events = append(events, strings.TrimSpace(e))
	}
	w, _ := strconv.Atoi(fmt.Sprint(o.Annotations["helm.sh/hook-weight"]))
	return events, w
}

// Workload is an object with a pod template.
type Workload struct {
	Obj       *Object
	PodLabels map[string]string
	Pod       map[string]interface{}
	Batch     bool // a Job: runs to completion, no probes or ports
}

// Context is what one render's checks need besides the objects.
type Context struct {
	Release  Release
	Values   map[string]interface{} // merged values of this render
	RunAsUID float64                // the uid every container must run as
}

// ---- generic access to decoded YAML ----

func at(v interface{}, path ...string) interface{} {
	for _, p := range path {
		m, ok := v.(map[string]interface{})
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func mapAt(v interface{}, path ...string) map[string]interface{} {
	m, _ := at(v, path...).(map[string]interface{})
	return m
}

func listAt(v interface{}, path ...string) []interface{} {
	l, _ := at(v, path...).([]interface{})
	return l
}

func strAt(v interface{}, path ...string) string {
	s, _ := at(v, path...).(string)
	return s
}

func stringMap(m map[string]interface{}) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// ---- names, labels ----

var (
	dnsLabelRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelNameRE   = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	portNameRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envNameRE     = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	scientificRE  = regexp.MustCompile(`^[0-9.]+e[+-]?[0-9]+$`)
	standardLabel = []string{
		"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
		"app.kubernetes.io/component", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by",
		"helm.sh/chart",
	}
	// Labels a selector must hold, and labels that change between releases and so must not be in one.
	stableLabels   = []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}
	unstableLabels = []string{"app.kubernetes.io/version", "helm.sh/chart", "app.kubernetes.io/managed-by"}
)

func validLabelKey(k string) bool {
	name := k
	if i := strings.LastIndex(k, "/"); i >= 0 {
		prefix := k[:i]
		name = k[i+1:]
		if len(prefix) > 253 || !dnsSubdomRE.MatchString(prefix) {
			return false
		}
	}
	return len(name) <= 63 && labelNameRE.MatchString(name)
}

func validLabelValue(v string) bool {
	return v == "" || (len(v) <= 63 && labelNameRE.MatchString(v))
}

// apiVersion each kind must be written with: the current, non-deprecated versions.
var currentAPIVersion = map[string]string{
	"Deployment":              "apps/v1",
	"StatefulSet":             "apps/v1",
	"DaemonSet":               "apps/v1",
	"Service":                 "v1",
	"ConfigMap":               "v1",
	"Secret":                  "v1",
	"ServiceAccount":          "v1",
	"Job":                     "batch/v1",
	"CronJob":                 "batch/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2",
	"PodDisruptionBudget":     "policy/v1",
	"NetworkPolicy":           "networking.k8s.io/v1",
	"Ingress":                 "networking.k8s.io/v1",
	"ServiceMonitor":          "monitoring.coreos.com/v1",
	"PodMonitor":              "monitoring.coreos.com/v1",
	"PrometheusRule":          "monitoring.coreos.com/v1",
}

// ParseObjects parses every rendered manifest (multi-document) of a render.
func ParseObjects(r *Report, out map[string]string) []*Object {
	var objs []*Object
	for _, name := range sortedKeys(out) {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		if !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".json")) {
			r.Fail("%s: helm ignores templates that are not .yaml/.yml/.json or NOTES.txt", name)
			continue
		}
		for i, doc := range SplitDocs(out[name]) {
			var body map[string]interface{}
			// Strict: a key written twice (e.g. two `labels:`) is an error, not a silent overwrite.
			if err := yaml.UnmarshalStrict([]byte(doc), &body); err != nil {
				r.Fail("%s (document %d): not valid YAML: %v", name, i+1, err)
				continue
			}
			if body == nil {
				continue // only comments
			}
			o := &Object{
				Source:      name,
				Kind:        strAt(body, "kind"),
				APIVersion:  strAt(body, "apiVersion"),
				Name:        strAt(body, "metadata", "name"),
				Namespace:   strAt(body, "metadata", "namespace"),
				Labels:      mapAt(body, "metadata", "labels"),
				Annotations: mapAt(body, "metadata", "annotations"),
				Body:        body,
			}
			if o.Kind == "" || o.APIVersion == "" || o.Name == "" {
				r.Fail("%s (document %d): apiVersion, kind and metadata.name are required", name, i+1)
				continue
			}
			objs = append(objs, o)
		}
	}
	return objs
}

func workloads(objs []*Object) []*Workload {
	var ws []*Workload
	for _, o := range objs {
		var tmpl map[string]interface{}
		switch o.Kind {
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			tmpl = mapAt(o.Body, "spec", "template")
		case "CronJob":
			tmpl = mapAt(o.Body, "spec", "jobTemplate", "spec", "template")
		default:
			continue
		}
		ws = append(ws, &Workload{
			Obj:       o,
			PodLabels: stringMap(mapAt(tmpl, "metadata", "labels")),
			Pod:       mapAt(tmpl, "spec"),
			Batch:     o.Kind == "Job" || o.Kind == "CronJob",
		})
	}
	return ws
}

func matches(selector map[string]string, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// matchesSelector applies a LabelSelector (matchLabels and matchExpressions).
func matchesSelector(sel map[string]interface{}, labels map[string]string) bool {
	ml := stringMap(mapAt(sel, "matchLabels"))
	exprs := listAt(sel, "matchExpressions")
	if len(ml) == 0 && len(exprs) == 0 {
		return false
	}
	for k, v := range ml {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range exprs {
		key := strAt(e, "key")
		lv, has := labels[key]
		var vals []string
		for _, v := range listAt(e, "values") {
			vals = append(vals, fmt.Sprint(v))
		}
		in := false
		for _, v := range vals {
			if v == lv {
				in = true
			}
		}
		switch strAt(e, "operator") {
		case "In":
			if !has || !in {
				return false
			}
		case "NotIn":
			if has && in {
				return false
			}
		case "Exists":
			if !has {
				return false
			}
		case "DoesNotExist":
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func containers(pod map[string]interface{}) []map[string]interface{} {
	var cs []map[string]interface{}
	for _, key := range []string{"initContainers", "containers"} {
		for _, c := range listAt(pod, key) {
			if m, ok := c.(map[string]interface{}); ok {
				cs = append(cs, m)
			}
		}
	}
	return cs
}

// containerPorts maps the names and numbers of a container's ports to the port number.
func containerPorts(c map[string]interface{}) map[string]int {
	ports := map[string]int{}
	for _, p := range listAt(c, "ports") {
		n, _ := at(p, "containerPort").(float64)
		ports[strconv.Itoa(int(n))] = int(n)
		if name := strAt(p, "name"); name != "" {
			ports[name] = int(n)
		}
	}
	return ports
}

func podPorts(pod map[string]interface{}) map[string]int {
	ports := map[string]int{}
	for _, c := range containers(pod) {
		for k, v := range containerPorts(c) {
			ports[k] = v
		}
	}
	return ports
}

// portRef is a port given as a name or a number, as text.
func portRef(v interface{}) string {
	switch x := v.(type) {
	case float64:
		return strconv.Itoa(int(x))
	case string:
		return x
	}
	return ""
}

// ---- quantities ----

var quantityRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$`)

func quantity(v interface{}) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		m := quantityRE.FindStringSubmatch(x)
		if m == nil {
			return 0, false
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		mult := map[string]float64{"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
			"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}[m[2]]
		return n * mult, true
	}
	return 0, false
}

// ---- references to Secrets and ConfigMaps ----

type ref struct {
	kind     string // Secret or ConfigMap
	name     string
	key      string // "" when the whole object is used (envFrom)
	from     string // who refers, for messages
	workload *Workload
}

// ExternalRefs reads the Secrets and ConfigMaps that values declare as created outside the chart:
// every map holding `existingSecret` (or `existingConfigMap`) names one, and the string values
// beside it whose key is `key` or ends in `Key` are its keys.
func ExternalRefs(values map[string]interface{}) map[string]map[string]bool {
	ext := map[string]map[string]bool{} // "Secret/name" → keys
	var walk func(m map[string]interface{})
	walk = func(m map[string]interface{}) {
		for field, kind := range map[string]string{"existingSecret": "Secret", "existingConfigMap": "ConfigMap"} {
			name, _ := m[field].(string)
			if name == "" {
				continue
			}
			id := kind + "/" + name
			if ext[id] == nil {
				ext[id] = map[string]bool{}
			}
			for k, v := range m {
				if s, ok := v.(string); ok && s != "" && (k == "key" || strings.HasSuffix(k, "Key")) {
					ext[id][s] = true
				}
			}
		}
		for _, v := range m {
			if sub, ok := v.(map[string]interface{}); ok {
				walk(sub)
			}
		}
	}
	walk(values)
	return ext
}

func collectRefs(w *Workload) []ref {
	var refs []ref
	id := w.Obj.ID()
	for _, c := range containers(w.Pod) {
		cname := strAt(c, "name")
		for _, e := range listAt(c, "env") {
			from := fmt.Sprintf("%s container %s env %s", id, cname, strAt(e, "name"))
			if s := mapAt(e, "valueFrom", "secretKeyRef"); s != nil {
				refs = append(refs, ref{"Secret", strAt(s, "name"), strAt(s, "key"), from, w})
			}
			if s := mapAt(e, "valueFrom", "configMapKeyRef"); s != nil {
				refs = append(refs, ref{"ConfigMap", strAt(s, "name"), strAt(s, "key"), from, w})
			}
		}
		for _, e := range listAt(c, "envFrom") {
			from := fmt.Sprintf("%s container %s envFrom", id, cname)
			if s := mapAt(e, "secretRef"); s != nil {
				refs = append(refs, ref{"Secret", strAt(s, "name"), "", from, w})
			}
			if s := mapAt(e, "configMapRef"); s != nil {
				refs = append(refs, ref{"ConfigMap", strAt(s, "name"), "", from, w})
			}
		}
	}
	volumeRefs := func(kind, name string, items []interface{}, from string) {
		if len(items) == 0 {
			refs = append(refs, ref{kind, name, "", from, w})
		}
		for _, it := range items {
			refs = append(refs, ref{kind, name, strAt(it, "key"), from, w})
		}
	}
	for _, v := range listAt(w.Pod, "volumes") {
		from := fmt.Sprintf("%s volume %s", id, strAt(v, "name"))
		if s := mapAt(v, "secret"); s != nil {
			volumeRefs("Secret", strAt(s, "secretName"), listAt(s, "items"), from)
		}
		if s := mapAt(v, "configMap"); s != nil {
			volumeRefs("ConfigMap", strAt(s, "name"), listAt(s, "items"), from)
		}
		for _, src := range listAt(v, "projected", "sources") {
			if s := mapAt(src, "secret"); s != nil {
				volumeRefs("Secret", strAt(s, "name"), listAt(s, "items"), from)
			}
			if s := mapAt(src, "configMap"); s != nil {
				volumeRefs("ConfigMap", strAt(s, "name"), listAt(s, "items"), from)
			}
		}
	}
	return refs
}

// dataKeys lists the keys a rendered Secret or ConfigMap holds.
func dataKeys(o *Object) map[string]bool {
	keys := map[string]bool{}
	fields := []string{"data", "binaryData"}
	if o.Kind == "Secret" {
		fields = []string{"data", "stringData"}
	}
	for _, f := range fields {
		for k := range mapAt(o.Body, f) {
			keys[k] = true
		}
	}
	return keys
}

// resolveEnv gives a container's environment as far as the render knows it: literal values,
// and values from the chart's ConfigMaps (envFrom first, env overriding, as Kubernetes does).
func resolveEnv(c map[string]interface{}, byID map[string]*Object) map[string]string {
	env := map[string]string{}
	for _, e := range listAt(c, "envFrom") {
		if cm := byID["ConfigMap/"+strAt(e, "configMapRef", "name")]; cm != nil {
			for k, v := range stringMap(mapAt(cm.Body, "data")) {
				env[strAt(e, "prefix")+k] = v
			}
		}
	}
	for _, e := range listAt(c, "env") {
		name := strAt(e, "name")
		if v, ok := at(e, "value").(string); ok {
			env[name] = v
		} else if s := mapAt(e, "valueFrom", "configMapKeyRef"); s != nil {
			if cm := byID["ConfigMap/"+strAt(s, "name")]; cm != nil {
				if v, ok := mapAt(cm.Body, "data")[strAt(s, "key")].(string); ok {
					env[name] = v
				}
			}
		}
	}
	return env
}

// ---- the checks ----

// CheckObjects runs every per-render assertion.
func CheckObjects(r *Report, objs []*Object, ctx *Context) {
	byID := map[string]*Object{}
	for _, o := range objs {
		if prev, dup := byID[o.ID()]; dup {
			r.Fail("%s is rendered twice (%s and %s)", o.ID(), prev.Source, o.Source)
		}
		byID[o.ID()] = o
	}
	ws := workloads(objs)

	for _, o := range objs {
		checkMeta(r, o, ctx)
	}
	for _, w := range ws {
		checkWorkload(r, w, byID, ctx)
	}
	checkRefs(r, ws, byID, ctx)
	for _, o := range objs {
		switch o.Kind {
		case "Service":
			checkService(r, o, ws)
		case "HorizontalPodAutoscaler":
			checkHPA(r, o, byID)
		case "PodDisruptionBudget":
			checkPDB(r, o, ws, objs)
		case "NetworkPolicy":
			checkNetworkPolicy(r, o, ws)
		case "ServiceMonitor":
			checkServiceMonitor(r, o, objs, ctx)
		case "PrometheusRule":
			checkPrometheusRule(r, o)
		case "Secret":
			data := mapAt(o.Body, "data")
			for _, k := range sortedAny(data) {
				s, ok := data[k].(string)
				_, err := base64.StdEncoding.DecodeString(s)
				r.Expect(ok && err == nil, "%s: data.%s is base64", o.ID(), k)
			}
			sd := mapAt(o.Body, "stringData")
			for _, k := range sortedAny(sd) {
				_, ok := sd[k].(string)
				r.Expect(ok, "%s: stringData.%s is a string", o.ID(), k)
			}
		case "ConfigMap":
			data := mapAt(o.Body, "data")
			for _, k := range sortedAny(data) {
				v := data[k]
				s, ok := v.(string)
				r.Expect(ok, "%s: data.%s is a string (got %T; quote it)", o.ID(), k, v)
				r.Expect(!scientificRE.MatchString(s), "%s: data.%s = %q is a number printed in scientific notation", o.ID(), k, s)
			}
		}
	}
}

func checkMeta(r *Report, o *Object, ctx *Context) {
	id := o.ID()
	want, known := currentAPIVersion[o.Kind]
	if !known {
		r.Fail("%s (%s): kind %s is not in the checker's table of current apiVersions", id, o.Source, o.Kind)
	} else {
		r.Expect(o.APIVersion == want, "%s: apiVersion %s (current: %s)", id, o.APIVersion, want)
	}
	if o.Kind == "Service" {
		r.Expect(len(o.Name) <= 63 && dnsLabelRE.MatchString(o.Name) && o.Name[0] >= 'a',
			"%s: name is a DNS-1035 label (at most 63 characters, starts with a letter)", id)
	} else {
		r.Expect(len(o.Name) <= 63 && dnsLabelRE.MatchString(o.Name), "%s: name is a DNS-1123 label (at most 63 characters)", id)
	}
	if o.Namespace != "" {
		r.Expect(o.Namespace == ctx.Release.Namespace, "%s: namespace %q is the release namespace", id, o.Namespace)
	}
	checkLabels(r, id+" metadata.labels", o.Labels, ctx)
	for _, k := range sortedAny(o.Annotations) {
		_, ok := o.Annotations[k].(string)
		r.Expect(ok, "%s: annotation %s is a string", id, k)
	}
	if events, _ := o.Hook(); events != nil {
		known := map[string]bool{"pre-install": true, "post-install": true, "pre-delete": true, "post-delete": true,
			"pre-upgrade": true, "post-upgrade": true, "pre-rollback": true, "post-rollback": true, "test": true}
		for _, e := range events {
			r.Expect(known[e], "%s: helm.sh/hook %q is a helm hook", id, e)
		}
		if w, ok := o.Annotations["helm.sh/hook-weight"]; ok {
			_, err := strconv.Atoi(fmt.Sprint(w))
			r.Expect(err == nil, "%s: helm.sh/hook-weight %v is an integer", id, w)
		}
		policy, _ := o.Annotations["helm.sh/hook-delete-policy"].(string)
		for _, p := range strings.Split(policy, ",") {
			p = strings.TrimSpace(p)
			if p != "" {
				r.Expect(p == "before-hook-creation" || p == "hook-succeeded" || p == "hook-failed",
					"%s: hook-delete-policy %q is a helm delete policy", id, p)
			}
		}
		// Without it the next install or upgrade fails: the object of the last run still exists.
		r.Expect(strings.Contains(policy, "before-hook-creation") || strings.Contains(policy, "hook-succeeded"),
			"%s: a hook has a hook-delete-policy that removes the previous run (before-hook-creation)", id)
	}
}

func checkLabels(r *Report, where string, labels map[string]interface{}, ctx *Context) {
	for _, k := range standardLabel {
		v, ok := labels[k].(string)
		r.Expect(ok && v != "", "%s: label %s is set", where, k)
	}
	if v, ok := labels["app.kubernetes.io/instance"]; ok {
		r.Expect(v == ctx.Release.Name, "%s: app.kubernetes.io/instance is the release name", where)
	}
	if v, ok := labels["app.kubernetes.io/managed-by"]; ok {
		r.Expect(v == "Helm", "%s: app.kubernetes.io/managed-by is Helm", where)
	}
	for _, k := range sortedAny(labels) {
		v := labels[k]
		s, ok := v.(string)
		r.Expect(validLabelKey(k) && ok && validLabelValue(s), "%s: label %s=%v is a valid label", where, k, v)
	}
}

func checkWorkload(r *Report, w *Workload, byID map[string]*Object, ctx *Context) {
	o := w.Obj
	id := o.ID()
	tmplLabels := mapAt(o.Body, "spec", "template", "metadata", "labels")
	if o.Kind == "CronJob" {
		tmplLabels = mapAt(o.Body, "spec", "jobTemplate", "spec", "template", "metadata", "labels")
	}
	checkLabels(r, id+" pod template", tmplLabels, ctx)

	// Selectors.
	if w.Batch {
		if at(o.Body, "spec", "selector") != nil {
			r.Expect(at(o.Body, "spec", "manualSelector") == true, "%s: a Job's selector is left to Kubernetes (or manualSelector)", id)
			r.Expect(matches(stringMap(mapAt(o.Body, "spec", "selector", "matchLabels")), w.PodLabels),
				"%s: spec.selector matches the pod template labels", id)
		}
	} else {
		sel := mapAt(o.Body, "spec", "selector")
		ml := stringMap(mapAt(sel, "matchLabels"))
		r.Expect(len(listAt(sel, "matchExpressions")) == 0, "%s: selector uses matchLabels only", id)
		r.Expect(matches(ml, w.PodLabels), "%s: spec.selector.matchLabels %v match the pod template labels", id, ml)
		checkSelectorKeys(r, id+" spec.selector", ml)
	}

	pod := w.Pod
	if pod == nil {
		r.Fail("%s: no pod template spec", id)
		return
	}
	for _, f := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		r.Expect(at(pod, f) != true, "%s: %s is off", id, f)
	}
	if w.Batch {
		rp := strAt(pod, "restartPolicy")
		r.Expect(rp == "Never" || rp == "OnFailure", "%s: restartPolicy is Never or OnFailure", id)
	}

	// Volumes are mounted, mounts name volumes.
	volumes := map[string]bool{}
	volumeSpec := map[string]interface{}{}
	for _, v := range listAt(pod, "volumes") {
		volumes[strAt(v, "name")] = true
		volumeSpec[strAt(v, "name")] = v
	}
	mounted := map[string]bool{}

	cs := containers(pod)
	r.Expect(len(cs) > 0, "%s: has containers", id)
	psc := mapAt(pod, "securityContext")
	for _, c := range cs {
		cname := strAt(c, "name")
		where := fmt.Sprintf("%s container %s", id, cname)
		checkContainerSecurity(r, where, psc, mapAt(c, "securityContext"), ctx.RunAsUID)

		image := strAt(c, "image")
		last := image[strings.LastIndex(image, "/")+1:]
		r.Expect(image != "" && (strings.Contains(last, ":") || strings.Contains(image, "@sha256:")) && !strings.HasSuffix(image, ":latest"),
			"%s: image %q has a pinned tag", where, image)
		if p := strAt(c, "imagePullPolicy"); p != "" {
			r.Expect(p == "Always" || p == "IfNotPresent" || p == "Never", "%s: imagePullPolicy %q is valid", where, p)
		}

		// Resources.
		res := mapAt(c, "resources")
		for _, q := range [][]string{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "memory"}} {
			_, ok := quantity(at(res, q...))
			r.Expect(ok, "%s: resources.%s.%s is set", where, q[0], q[1])
		}
		for _, kind := range []string{"cpu", "memory"} {
			req, okr := quantity(at(res, "requests", kind))
			lim, okl := quantity(at(res, "limits", kind))
			if okr && okl {
				r.Expect(req <= lim, "%s: resources.requests.%s is not above the limit", where, kind)
			}
		}

		// Ports.
		ports := containerPorts(c)
		names := map[string]bool{}
		for _, p := range listAt(c, "ports") {
			n, _ := at(p, "containerPort").(float64)
			name := strAt(p, "name")
			r.Expect(n >= 1 && n <= 65535, "%s: port %v is a port number", where, at(p, "containerPort"))
			r.Expect(name != "" && len(name) <= 15 && portNameRE.MatchString(name) && !names[name],
				"%s: port %v has a unique name of at most 15 characters (%q)", where, n, name)
			names[name] = true
			if proto := strAt(p, "protocol"); proto != "" {
				r.Expect(proto == "TCP" || proto == "UDP" || proto == "SCTP", "%s: port %s protocol %s", where, name, proto)
			}
		}
		if !w.Batch {
			r.Expect(len(listAt(c, "ports")) > 0, "%s: declares its ports", where)
			for _, probe := range []string{"livenessProbe", "readinessProbe"} {
				checkProbe(r, where, probe, mapAt(c, probe), ports)
			}
		}

		// Environment.
		seen := map[string]bool{}
		for _, e := range listAt(c, "env") {
			name := strAt(e, "name")
			r.Expect(envNameRE.MatchString(name) && !seen[name], "%s: env %q is a unique, valid name", where, name)
			seen[name] = true
			if v, ok := at(e, "value").(string); ok {
				r.Expect(!scientificRE.MatchString(v), "%s: env %s = %q is a number printed in scientific notation", where, name, v)
			} else if at(e, "value") != nil {
				r.Fail("%s: env %s value is a %T, not a string (quote it)", where, name, at(e, "value"))
			}
		}
		env := resolveEnv(c, byID)
		for _, name := range sortedKeys(env) {
			v := env[name]
			// Every *_LISTEN address listens on a declared port (probes and Services depend on it).
			if strings.HasSuffix(name, "_LISTEN") {
				port := v[strings.LastIndex(v, ":")+1:]
				_, ok := ports[port]
				r.Expect(ok, "%s: %s=%s listens on a declared container port", where, name, v)
			}
		}
		if v, ok := env["ADVISOR_SHUTDOWN_TIMEOUT"]; ok {
			d, err := time.ParseDuration(v)
			grace := 30.0 // the Kubernetes default
			if g, ok := at(pod, "terminationGracePeriodSeconds").(float64); ok {
				grace = g
			}
			r.Expect(err == nil && grace > d.Seconds(),
				"%s: terminationGracePeriodSeconds (%v) exceeds ADVISOR_SHUTDOWN_TIMEOUT (%s)", where, grace, v)
		}

		for _, m := range listAt(c, "volumeMounts") {
			name := strAt(m, "name")
			mounted[name] = true
			r.Expect(volumes[name], "%s: volumeMount %s names a pod volume", where, name)
			// The kubelet never updates a subPath mount: a rotated key or edited file would reach
			// the pod only on a restart.
			if kind := updatedVolumeKind(volumeSpec[name]); kind != "" {
				r.Expect(strAt(m, "subPath") == "" && strAt(m, "subPathExpr") == "",
					"%s: volumeMount %s of a %s volume has no subPath (a subPath mount never sees updates)", where, name, kind)
			}
		}
		checkFileSettings(r, where, env, listAt(c, "volumeMounts"), volumeSpec)
	}
	for _, v := range sortedBool(volumes) {
		r.Expect(mounted[v], "%s: volume %s is mounted by a container", id, v)
	}
}

// updatedVolumeKind names the kind of a volume whose files the kubelet keeps up to date with their
// object (Secret, ConfigMap, projected), or "" for other volumes.
func updatedVolumeKind(v interface{}) string {
	for field, kind := range map[string]string{"secret": "Secret", "configMap": "ConfigMap", "projected": "projected"} {
		if at(v, field) != nil {
			return kind
		}
	}
	return ""
}

// volumeFiles lists the file names a Secret or ConfigMap volume with items shows (nil: the whole
// object, any name).
func volumeFiles(v interface{}) map[string]bool {
	var items []interface{}
	for _, field := range []string{"secret", "configMap"} {
		items = append(items, listAt(v, field, "items")...)
	}
	if len(items) == 0 {
		return nil
	}
	files := map[string]bool{}
	for _, it := range items {
		files[strAt(it, "path")] = true
	}
	return files
}

// checkFileSettings: every *_FILE setting holding an absolute path names a file inside one of the
// container's mounts (else the program starts without its file), and one that a Secret or
// ConfigMap volume's items actually put there.
func checkFileSettings(r *Report, where string, env map[string]string, mounts []interface{}, volumes map[string]interface{}) {
	for _, name := range sortedKeys(env) {
		path := env[name]
		if !strings.HasSuffix(name, "_FILE") || !strings.HasPrefix(path, "/") {
			continue
		}
		var mount map[string]interface{}
		for _, m := range mounts {
			mp := strings.TrimSuffix(strAt(m, "mountPath"), "/")
			if mp != "" && (path == mp || strings.HasPrefix(path, mp+"/")) &&
				(mount == nil || len(mp) > len(strAt(mount, "mountPath"))) {
				mount, _ = m.(map[string]interface{})
			}
		}
		if !r.Expect(mount != nil, "%s: %s=%s lies inside a volumeMount", where, name, path) {
			continue
		}
		if files := volumeFiles(volumes[strAt(mount, "name")]); files != nil && strAt(mount, "subPath") == "" {
			rel := strings.TrimPrefix(path, strings.TrimSuffix(strAt(mount, "mountPath"), "/")+"/")
			r.Expect(files[rel], "%s: %s=%s is a file volume %s puts there (items: %v)", where, name, path,
				strAt(mount, "name"), sortedBool(files))
		}
	}
}

func checkSelectorKeys(r *Report, where string, sel map[string]string) {
	for _, k := range stableLabels {
		_, ok := sel[k]
		r.Expect(ok, "%s: selects on %s", where, k)
	}
	for _, k := range unstableLabels {
		_, ok := sel[k]
		r.Expect(!ok, "%s: does not select on %s, which changes between releases", where, k)
	}
}

func checkContainerSecurity(r *Report, where string, pod, c map[string]interface{}, wantUID float64) {
	// The container's setting wins over the pod's, as in Kubernetes.
	eff := func(key string) interface{} {
		if v := at(c, key); v != nil {
			return v
		}
		return at(pod, key)
	}
	r.Expect(eff("runAsNonRoot") == true, "%s: runAsNonRoot", where)
	uid, ok := eff("runAsUser").(float64)
	r.Expect(ok && uid != 0 && (wantUID == 0 || uid == wantUID), "%s: runAsUser is the non-root uid %v (got %v)", where, wantUID, eff("runAsUser"))
	r.Expect(strAt(eff("seccompProfile"), "type") == "RuntimeDefault" || strAt(eff("seccompProfile"), "type") == "Localhost",
		"%s: seccompProfile RuntimeDefault", where)
	r.Expect(at(c, "allowPrivilegeEscalation") == false, "%s: allowPrivilegeEscalation false", where)
	r.Expect(at(c, "readOnlyRootFilesystem") == true, "%s: readOnlyRootFilesystem", where)
	r.Expect(at(c, "privileged") != true, "%s: not privileged", where)
	dropAll := false
	for _, d := range listAt(c, "capabilities", "drop") {
		if d == "ALL" {
			dropAll = true
		}
	}
	r.Expect(dropAll, "%s: capabilities drop ALL", where)
	r.Expect(len(listAt(c, "capabilities", "add")) == 0, "%s: adds no capabilities", where)
}

func checkProbe(r *Report, where, kind string, p map[string]interface{}, ports map[string]int) {
	if !r.Expect(p != nil, "%s: has a %s", where, kind) {
		return
	}
	handlers := 0
	for _, h := range []string{"grpc", "tcpSocket", "httpGet", "exec"} {
		if at(p, h) != nil {
			handlers++
		}
	}
	r.Expect(handlers == 1, "%s: %s has exactly one handler", where, kind)
	if g := mapAt(p, "grpc"); g != nil {
		// A gRPC probe takes a port number only, not a name.
		n, isNum := at(g, "port").(float64)
		_, declared := ports[strconv.Itoa(int(n))]
		r.Expect(isNum && declared, "%s: %s grpc.port %v is a declared container port number", where, kind, at(g, "port"))
	}
	for _, h := range []string{"tcpSocket", "httpGet"} {
		if hm := mapAt(p, h); hm != nil {
			_, declared := ports[portRef(at(hm, "port"))]
			r.Expect(declared, "%s: %s %s.port %v is a declared container port", where, kind, h, at(hm, "port"))
		}
	}
	for _, f := range []string{"initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"} {
		if v := at(p, f); v != nil {
			n, ok := v.(float64)
			r.Expect(ok && n >= 0 && n == float64(int(n)), "%s: %s.%s is a whole number", where, kind, f)
		}
	}
}

func checkRefs(r *Report, ws []*Workload, byID map[string]*Object, ctx *Context) {
	external := ExternalRefs(ctx.Values)
	for _, w := range ws {
		for _, rf := range collectRefs(w) {
			id := rf.kind + "/" + rf.name
			what := id
			if rf.key != "" {
				what = fmt.Sprintf("%s key %q", id, rf.key)
			}
			if o := byID[id]; o != nil {
				if rf.key != "" {
					r.Expect(dataKeys(o)[rf.key], "%s: %s exists (the chart creates %s without that key)", rf.from, what, id)
				} else {
					r.Pass("%s: %s is created by the chart", rf.from, what)
				}
				checkHookOrder(r, rf, o)
				continue
			}
			keys, isExternal := external[id]
			if !isExternal {
				r.Fail("%s: %s is neither created by the chart nor declared external (existingSecret/existingConfigMap in values)", rf.from, what)
				continue
			}
			if rf.key != "" {
				r.Expect(keys[rf.key], "%s: %s is a key declared beside %s's existing%s setting", rf.from, what, rf.name, rf.kind)
			} else {
				r.Pass("%s: %s is declared external", rf.from, what)
			}
		}
	}
}

// A hook's pod runs before the release's ordinary objects exist: what it reads from the chart must
// itself be a hook of the same events, created before it (lower weight).
func checkHookOrder(r *Report, rf ref, target *Object) {
	events, weight := rf.workload.Obj.Hook()
	if events == nil {
		return
	}
	tEvents, tWeight := target.Hook()
	for _, e := range events {
		if !strings.HasPrefix(e, "pre-") {
			continue
		}
		has := false
		for _, te := range tEvents {
			if te == e {
				has = true
			}
		}
		r.Expect(has && tWeight < weight, "%s (a %s hook, weight %d): %s is created before it (a %s hook of lower weight)",
			rf.from, e, weight, target.ID(), e)
	}
}

func checkService(r *Report, o *Object, ws []*Workload) {
	id := o.ID()
	sel := stringMap(mapAt(o.Body, "spec", "selector"))
	checkSelectorKeys(r, id+" spec.selector", sel)
	var targets []*Workload
	for _, w := range ws {
		if matches(sel, w.PodLabels) {
			targets = append(targets, w)
		}
	}
	r.Expect(len(targets) > 0, "%s: selector %v matches the pods of a workload", id, sel)
	names := map[string]bool{}
	ports := listAt(o.Body, "spec", "ports")
	r.Expect(len(ports) > 0, "%s: has ports", id)
	for _, p := range ports {
		name := strAt(p, "name")
		r.Expect((len(ports) == 1 || name != "") && !names[name], "%s: port %q is named and unique", id, name)
		names[name] = true
		target := portRef(at(p, "targetPort"))
		if target == "" {
			target = portRef(at(p, "port"))
		}
		for _, w := range targets {
			_, ok := podPorts(w.Pod)[target]
			r.Expect(ok, "%s: port %s targets %s, a container port of %s", id, name, target, w.Obj.ID())
		}
	}
}

func minReplicas(w *Workload, objs []*Object) (int, string) {
	for _, o := range objs {
		if o.Kind == "HorizontalPodAutoscaler" && strAt(o.Body, "spec", "scaleTargetRef", "name") == w.Obj.Name &&
			strAt(o.Body, "spec", "scaleTargetRef", "kind") == w.Obj.Kind {
			n, ok := at(o.Body, "spec", "minReplicas").(float64)
			if !ok {
				n = 1
			}
			return int(n), o.ID() + " minReplicas"
		}
	}
	n, ok := at(w.Obj.Body, "spec", "replicas").(float64)
	if !ok {
		n = 1
	}
	return int(n), "replicas"
}

func checkHPA(r *Report, o *Object, byID map[string]*Object) {
	id := o.ID()
	ref := mapAt(o.Body, "spec", "scaleTargetRef")
	target := byID[strAt(ref, "kind")+"/"+strAt(ref, "name")]
	if !r.Expect(target != nil, "%s: scaleTargetRef %s/%s is rendered by the chart", id, strAt(ref, "kind"), strAt(ref, "name")) {
		return
	}
	min, _ := at(o.Body, "spec", "minReplicas").(float64)
	max, _ := at(o.Body, "spec", "maxReplicas").(float64)
	r.Expect(min >= 1 && max >= min, "%s: 1 <= minReplicas (%v) <= maxReplicas (%v)", id, min, max)
	// helm upgrade would reset the count the HPA chose.
	r.Expect(at(target.Body, "spec", "replicas") == nil, "%s: %s leaves spec.replicas to the HPA", id, target.ID())
	for _, m := range listAt(o.Body, "spec", "metrics") {
		if strAt(m, "type") != "Resource" {
			continue
		}
		res := strAt(m, "resource", "name")
		for _, c := range containers(mapAt(target.Body, "spec", "template", "spec")) {
			_, ok := quantity(at(c, "resources", "requests", res))
			r.Expect(ok, "%s: scales on %s utilisation, so %s container %s requests %s", id, res, target.ID(), strAt(c, "name"), res)
		}
	}
}

func checkPDB(r *Report, o *Object, ws []*Workload, objs []*Object) {
	id := o.ID()
	sel := mapAt(o.Body, "spec", "selector")
	minA, hasMin := at(o.Body, "spec", "minAvailable").(float64)
	maxU, hasMax := at(o.Body, "spec", "maxUnavailable").(float64)
	r.Expect(!(at(o.Body, "spec", "minAvailable") != nil && at(o.Body, "spec", "maxUnavailable") != nil),
		"%s: sets only one of minAvailable and maxUnavailable", id)
	if hasMax {
		r.Expect(maxU >= 1, "%s: maxUnavailable %v lets a node drain proceed", id, maxU)
	}
	found := false
	for _, w := range ws {
		if !matchesSelector(sel, w.PodLabels) {
			continue
		}
		found = true
		if hasMin {
			n, from := minReplicas(w, objs)
			r.Expect(int(minA) < n, "%s: minAvailable %v is below %s's %s (%d), so drains can proceed", id, minA, w.Obj.ID(), from, n)
		}
	}
	r.Expect(found, "%s: selector matches the pods of a workload", id)
}

func checkNetworkPolicy(r *Report, o *Object, ws []*Workload) {
	id := o.ID()
	sel := mapAt(o.Body, "spec", "podSelector")
	var selected []*Workload
	for _, w := range ws {
		if matchesSelector(sel, w.PodLabels) {
			selected = append(selected, w)
		}
	}
	r.Expect(len(selected) > 0, "%s: podSelector matches the pods of a workload", id)
	r.Expect(len(listAt(o.Body, "spec", "policyTypes")) > 0, "%s: states its policyTypes", id)
	for _, rule := range listAt(o.Body, "spec", "ingress") {
		for _, p := range listAt(rule, "ports") {
			port := portRef(at(p, "port"))
			for _, w := range selected {
				_, ok := podPorts(w.Pod)[port]
				r.Expect(ok, "%s: ingress port %s is a container port of %s", id, port, w.Obj.ID())
			}
		}
	}
}

func checkServiceMonitor(r *Report, o *Object, objs []*Object, ctx *Context) {
	id := o.ID()
	sel := mapAt(o.Body, "spec", "selector")
	var svcs []*Object
	for _, s := range objs {
		if s.Kind == "Service" && matchesSelector(sel, stringMap(s.Labels)) {
			svcs = append(svcs, s)
		}
	}
	r.Expect(len(svcs) > 0, "%s: selector matches a Service of the chart", id)
	ns := mapAt(o.Body, "spec", "namespaceSelector")
	inNS := at(ns, "any") == true || ns == nil
	for _, n := range listAt(ns, "matchNames") {
		if n == ctx.Release.Namespace {
			inNS = true
		}
	}
	r.Expect(inNS, "%s: namespaceSelector includes the release namespace", id)
	for _, ep := range listAt(o.Body, "spec", "endpoints") {
		port := strAt(ep, "port")
		for _, s := range svcs {
			ok := false
			for _, p := range listAt(s.Body, "spec", "ports") {
				if strAt(p, "name") == port {
					ok = true
				}
			}
			r.Expect(ok, "%s: endpoint port %q is a port of %s", id, port, s.ID())
		}
	}
}

func checkPrometheusRule(r *Report, o *Object) {
	id := o.ID()
	groups := listAt(o.Body, "spec", "groups")
	r.Expect(len(groups) > 0, "%s: has rule groups", id)
	for _, g := range groups {
		gname := strAt(g, "name")
		rules := listAt(g, "rules")
		r.Expect(gname != "" && len(rules) > 0, "%s: group %q has a name and rules", id, gname)
		for _, rule := range rules {
			alert, record := strAt(rule, "alert"), strAt(rule, "record")
			name := alert + record
			r.Expect((alert == "") != (record == ""), "%s: rule %q is either an alert or a recording rule", id, name)
			r.Expect(strings.TrimSpace(fmt.Sprint(at(rule, "expr"))) != "" && at(rule, "expr") != nil, "%s: rule %q has an expr", id, name)
			if alert != "" {
				r.Expect(strAt(rule, "labels", "severity") != "", "%s: alert %s has a severity label", id, alert)
				r.Expect(strAt(rule, "annotations", "summary") != "", "%s: alert %s has a summary", id, alert)
			}
		}
	}
}

// ObjectList is a one-line inventory of a render.
func ObjectList(objs []*Object) string {
	var ids []string
	for _, o := range objs {
		id := o.ID()
		if events, _ := o.Hook(); events != nil {
			id += " (hook)"
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ", ")
}

func sortedAny(m map[string]interface{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedBool(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
