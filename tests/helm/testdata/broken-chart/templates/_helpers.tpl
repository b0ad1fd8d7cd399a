{{- define "broken.labels" -}}
app.kubernetes.io/name: broken
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: app
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: broken-chart-0.1.0
{{- end -}}
