{{/*
Names, labels and the pieces every workload shares. Only plain text/template, sprig and helm's
include/required/toYaml/fromYaml are used: the chart check (tests/helm) renders with exactly those.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "connectivity-advisor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<chart>", or just the release name when it already contains the chart name. */}}
{{- define "connectivity-advisor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"<fullname>-<suffix>" within 63 characters. The prefix is shortened, never the suffix, so the
names of the components stay distinct however long the release name. Call with
(dict "root" $ "suffix" "server").
*/}}
{{- define "connectivity-advisor.componentName" -}}
{{- $prefix := include "connectivity-advisor.fullname" .root | trunc (int (sub 62 (len .suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $prefix .suffix | trimSuffix "-" -}}
{{- end -}}

{{/* Value of the helm.sh/chart label. */}}
{{- define "connectivity-advisor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels: the subset that never changes over a release's life (selectors are immutable).
Call with (dict "root" $ "component" "advisor-server").
*/}}
{{- define "connectivity-advisor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "connectivity-advisor.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The standard labels of every object. Same arguments as selectorLabels. */}}
{{- define "connectivity-advisor.labels" -}}
{{ include "connectivity-advisor.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: connectivity-advisor
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "connectivity-advisor.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Object names. */}}
{{- define "connectivity-advisor.serverName" -}}
{{- include "connectivity-advisor.componentName" (dict "root" . "suffix" "server") -}}
{{- end -}}
{{- define "connectivity-advisor.proberName" -}}
{{- include "connectivity-advisor.componentName" (dict "root" . "suffix" "prober") -}}
{{- end -}}
{{- define "connectivity-advisor.migrateName" -}}
{{- include "connectivity-advisor.componentName" (dict "root" . "suffix" "migrate") -}}
{{- end -}}
{{- define "connectivity-advisor.secretsName" -}}
{{- include "connectivity-advisor.componentName" (dict "root" . "suffix" "secrets") -}}
{{- end -}}

{{/* Secret names the pods read: the chart's own with secrets.create, else the existing ones. */}}
{{- define "connectivity-advisor.tokenSecret" -}}
{{- if .Values.secrets.create -}}
{{- include "connectivity-advisor.secretsName" . -}}
{{- else -}}
{{- required "tokenKeys.existingSecret is required (or set secrets.create=true for a test install)" .Values.tokenKeys.existingSecret -}}
{{- end -}}
{{- end -}}
{{- define "connectivity-advisor.turnServersSecret" -}}
{{- if .Values.secrets.create -}}
{{- include "connectivity-advisor.secretsName" . -}}
{{- else -}}
{{- required "turnServers.existingSecret is required (or set secrets.create=true for a test install)" .Values.turnServers.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
The Secret holding the JWKS file, or "" when the server runs without keys. Fails the render when
there are no keys and anonymous callers are not allowed either: the server would refuse to start.
*/}}
{{- define "connectivity-advisor.authSecret" -}}
{{- $name := .Values.auth.existingSecret -}}
{{- if .Values.secrets.create -}}
{{- $name = ternary (include "connectivity-advisor.secretsName" .) "" (ne .Values.secrets.authKeys "") -}}
{{- end -}}
{{- if and (not $name) (not .Values.auth.allowAnonymous) -}}
{{- fail "auth.existingSecret is required: the Secret with the JWKS file that client JWTs are verified with (or secrets.authKeys with secrets.create=true; auth.allowAnonymous=true serves callers without a JWT, for development only)" -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/* Where the JWKS file is mounted, and the file's path. */}}
{{- define "connectivity-advisor.authKeysDir" -}}
/etc/connectivity-advisor/auth
{{- end -}}
{{- define "connectivity-advisor.authKeysFile" -}}
{{- include "connectivity-advisor.authKeysDir" . }}/jwks.json
{{- end -}}

{{/*
The volume of the JWKS file. A whole-Secret volume, never mounted with subPath: the kubelet
updates such a volume when the Secret changes, and the server re-reads the file, so keys rotate
without a restart.
*/}}
{{- define "connectivity-advisor.authKeysVolume" -}}
- name: auth-keys
  secret:
    secretName: {{ include "connectivity-advisor.authSecret" . }}
    # 0440: readable by the pod's fsGroup, nobody else.
    defaultMode: 288
    items:
      - key: {{ .Values.auth.key }}
        path: jwks.json
{{- end -}}

{{/* Where the TURN servers file is mounted, and the file's path. */}}
{{- define "connectivity-advisor.turnServersDir" -}}
/etc/connectivity-advisor/turn
{{- end -}}
{{- define "connectivity-advisor.turnServersFile" -}}
{{- include "connectivity-advisor.turnServersDir" . }}/servers.yaml
{{- end -}}

{{/* Image reference; the tag defaults to the chart's appVersion. Call with (dict "root" $ "image" .Values.server.image). */}}
{{- define "connectivity-advisor.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* Pod-level security context: non-root, RuntimeDefault seccomp. */}}
{{- define "connectivity-advisor.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context: read-only root, no privilege escalation, no capabilities. */}}
{{- define "connectivity-advisor.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The ADVISOR_DATABASE_URL variable of one program, from its own Secret: each connects as a login of
its own. Call with (dict "root" $ "login" "migrate"|"server"|"prober"). In the chart-made Secret the
three URLs sit under keys of their own.
*/}}
{{- define "connectivity-advisor.databaseEnv" -}}
{{- $v := .root.Values -}}
{{- $name := "" -}}
{{- $key := "" -}}
{{- if $v.secrets.create -}}
{{- $name = include "connectivity-advisor.secretsName" .root -}}
{{- $key = printf "%s-database-url" .login -}}
{{- else if eq .login "migrate" -}}
{{- $name = required "database.migrate.existingSecret is required (or set secrets.create=true for a test install)" .root.Values.database.migrate.existingSecret -}}
{{- $key = .root.Values.database.migrate.key -}}
{{- else if eq .login "server" -}}
{{- $name = required "database.server.existingSecret is required (or set secrets.create=true for a test install)" .root.Values.database.server.existingSecret -}}
{{- $key = .root.Values.database.server.key -}}
{{- else if eq .login "prober" -}}
{{- $name = required "database.prober.existingSecret is required (or set secrets.create=true for a test install)" .root.Values.database.prober.existingSecret -}}
{{- $key = .root.Values.database.prober.key -}}
{{- else -}}
{{- fail (printf "connectivity-advisor.databaseEnv: unknown login %q" .login) -}}
{{- end -}}
- name: ADVISOR_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $key }}
{{- end -}}

{{/* Where the token key is mounted, and the file's path. */}}
{{- define "connectivity-advisor.tokenKeyDir" -}}
/etc/connectivity-advisor/token
{{- end -}}
{{- define "connectivity-advisor.tokenKeyFile" -}}
{{- include "connectivity-advisor.tokenKeyDir" . }}/token.key
{{- end -}}

{{/* The volume of the token key file: the signing key only, read once at start. */}}
{{- define "connectivity-advisor.tokenKeyVolume" -}}
- name: token-key
  secret:
    secretName: {{ include "connectivity-advisor.tokenSecret" . }}
    # 0440: readable by the pod's fsGroup, nobody else.
    defaultMode: 288
    items:
      - key: {{ .Values.tokenKeys.key }}
        path: token.key
{{- end -}}

{{/* Where the TLS Secret is mounted, and its files. */}}
{{- define "connectivity-advisor.tlsDir" -}}
/etc/connectivity-advisor/tls
{{- end -}}

{{/*
The volume of the TLS certificate: a whole-Secret volume, never mounted with subPath, so that a
certificate cert-manager renews in the Secret reaches the pod and the server serves it without a
restart.
*/}}
{{- define "connectivity-advisor.tlsVolume" -}}
- name: tls
  secret:
    secretName: {{ required "tls.existingSecret is required: the kubernetes.io/tls Secret with the server certificate (e.g. a cert-manager Certificate's secretName), or tls.insecure=true behind a mesh that terminates TLS" .Values.tls.existingSecret }}
    # 0440: readable by the pod's fsGroup, nobody else.
    defaultMode: 288
    items:
      - key: {{ .Values.tls.certKey }}
        path: tls.crt
      - key: {{ .Values.tls.privateKeyKey }}
        path: tls.key
      {{- if .Values.tls.requireClientCerts }}
      - key: {{ .Values.tls.caKey }}
        path: ca.crt
      {{- end }}
{{- end -}}

{{/* Volume with the TURN servers file, from its Secret. */}}
{{- define "connectivity-advisor.turnServersVolume" -}}
- name: turn-servers
  secret:
    secretName: {{ include "connectivity-advisor.turnServersSecret" . }}
    # 0440: readable by the pod's fsGroup, nobody else.
    defaultMode: 288
    items:
      - key: {{ .Values.turnServers.key }}
        path: servers.yaml
{{- end -}}

{{/*
A value as an environment variable's text. Numbers from values files arrive as float64 and would
print as 1e+06; whole numbers are printed as integers instead.
*/}}
{{- define "connectivity-advisor.envValue" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . | toString -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/*
Settings of advisor-server (the data of its ConfigMap). Also hashed into a pod annotation, so a
change of settings rolls the pods.
*/}}
{{- define "connectivity-advisor.serverConfig" -}}
ADVISOR_LISTEN: {{ printf "0.0.0.0:%d" (int .Values.server.ports.grpc) | quote }}
ADVISOR_METRICS_LISTEN: {{ printf "0.0.0.0:%d" (int .Values.server.ports.metrics) | quote }}
ADVISOR_LOG_LEVEL: {{ .Values.server.logLevel | quote }}
ADVISOR_SNAPSHOT_INTERVAL: {{ .Values.server.snapshotInterval | quote }}
ADVISOR_FLUSH_INTERVAL: {{ .Values.server.flushInterval | quote }}
ADVISOR_SHUTDOWN_TIMEOUT: {{ .Values.server.shutdownTimeout | quote }}
ADVISOR_TURN_CREDENTIAL_TTL: {{ .Values.server.turnCredentialTtl | quote }}
ADVISOR_TOKEN_TTL: {{ .Values.server.tokenTtl | quote }}
ADVISOR_STUN_URLS: {{ .Values.server.stunUrls | quote }}
{{- if include "connectivity-advisor.authSecret" . }}
ADVISOR_AUTH_KEYS_FILE: {{ include "connectivity-advisor.authKeysFile" . | quote }}
{{- end }}
ADVISOR_TOKEN_KEY_FILE: {{ include "connectivity-advisor.tokenKeyFile" . | quote }}
{{- if .Values.tls.insecure }}
ADVISOR_INSECURE: "true"
{{- else }}
ADVISOR_TLS_CERT_FILE: {{ printf "%s/tls.crt" (include "connectivity-advisor.tlsDir" .) | quote }}
ADVISOR_TLS_KEY_FILE: {{ printf "%s/tls.key" (include "connectivity-advisor.tlsDir" .) | quote }}
{{- if .Values.tls.requireClientCerts }}
ADVISOR_TLS_CLIENT_CA_FILE: {{ printf "%s/ca.crt" (include "connectivity-advisor.tlsDir" .) | quote }}
{{- end }}
{{- end }}
ADVISOR_AUTH_AUDIENCE: {{ .Values.auth.audience | quote }}
{{- if .Values.auth.allowAnonymous }}
ADVISOR_ALLOW_ANONYMOUS: "true"
{{- end }}
ADVISOR_RATE_LIMIT: {{ include "connectivity-advisor.envValue" .Values.server.rateLimit | quote }}
ADVISOR_RATE_LIMIT_BURST: {{ include "connectivity-advisor.envValue" .Values.server.rateLimitBurst | quote }}
ADVISOR_MAX_REPORTS_PER_IDENTITY: {{ include "connectivity-advisor.envValue" .Values.server.maxReportsPerIdentity | quote }}
ADVISOR_AUTH_FAILURE_LIMIT: {{ include "connectivity-advisor.envValue" .Values.server.authFailureLimit | quote }}
ADVISOR_TURN_SERVERS_FILE: {{ include "connectivity-advisor.turnServersFile" . | quote }}
{{- range $key, $value := .Values.server.extraConfig }}
{{ $key }}: {{ include "connectivity-advisor.envValue" $value | quote }}
{{- end }}
{{- end -}}

{{/* Settings of turn-prober (the data of its ConfigMap); ADVISOR_REGION is set per Deployment. */}}
{{- define "connectivity-advisor.proberConfig" -}}
ADVISOR_METRICS_LISTEN: {{ printf "0.0.0.0:%d" (int .Values.prober.metricsPort) | quote }}
ADVISOR_LOG_LEVEL: {{ .Values.prober.logLevel | quote }}
ADVISOR_PROBE_INTERVAL: {{ .Values.prober.probeInterval | quote }}
ADVISOR_PROBE_TIMEOUT: {{ .Values.prober.probeTimeout | quote }}
ADVISOR_FAILURE_THRESHOLD: {{ include "connectivity-advisor.envValue" .Values.prober.failureThreshold | quote }}
ADVISOR_UNHEALTHY_FOR: {{ .Values.prober.unhealthyFor | quote }}
ADVISOR_PROBE_CONCURRENCY: {{ include "connectivity-advisor.envValue" .Values.prober.concurrency | quote }}
ADVISOR_TURN_SERVERS_FILE: {{ include "connectivity-advisor.turnServersFile" . | quote }}
{{- range $key, $value := .Values.prober.extraConfig }}
{{ $key }}: {{ include "connectivity-advisor.envValue" $value | quote }}
{{- end }}
{{- end -}}

{{/* The chart-made Secret's data (secrets.create only); hashed into pod annotations too. */}}
{{- define "connectivity-advisor.secretData" -}}
migrate-database-url: {{ required "secrets.migrateDatabaseUrl is required with secrets.create" .Values.secrets.migrateDatabaseUrl | b64enc | quote }}
server-database-url: {{ required "secrets.serverDatabaseUrl is required with secrets.create" .Values.secrets.serverDatabaseUrl | b64enc | quote }}
prober-database-url: {{ required "secrets.proberDatabaseUrl is required with secrets.create" .Values.secrets.proberDatabaseUrl | b64enc | quote }}
{{ .Values.tokenKeys.key }}: {{ required "secrets.tokenKey is required with secrets.create" .Values.secrets.tokenKey | b64enc | quote }}
{{- if .Values.secrets.previousTokenKey }}
{{ .Values.tokenKeys.previousKey }}: {{ .Values.secrets.previousTokenKey | b64enc | quote }}
{{- end }}
{{ .Values.turnServers.key }}: {{ required "secrets.turnServers is required with secrets.create" .Values.secrets.turnServers | b64enc | quote }}
{{- if .Values.secrets.authKeys }}
{{ .Values.auth.key }}: {{ .Values.secrets.authKeys | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress rules every component needs: DNS and PostgreSQL. */}}
{{- define "connectivity-advisor.egressDnsPostgres" -}}
- ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
  {{- with .Values.networkPolicy.dnsTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
- ports:
    - {protocol: TCP, port: {{ .Values.database.port }}}
  {{- with .Values.networkPolicy.postgresTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
