{{/* Names and labels. */}}
{{- define "kisflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kisflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kisflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kisflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kisflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kisflow.labels" -}}
helm.sh/chart: {{ include "kisflow.chart" . }}
{{ include "kisflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kisflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kisflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kisflow.appId" -}}
{{- default (include "kisflow.fullname" .) .Values.appId }}
{{- end }}

{{- define "kisflow.configMapName" -}}
{{- if .Values.config.existingConfigMap }}
{{- .Values.config.existingConfigMap }}
{{- else }}
{{- printf "%s-config" (include "kisflow.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* kafka.brokers as "host:port,host:port" (a list is joined). */}}
{{- define "kisflow.brokers" -}}
{{- $b := .Values.kafka.brokers }}
{{- if kindIs "slice" $b }}{{ join "," $b }}{{ else }}{{ $b | default "" | toString | trim }}{{ end }}
{{- end }}

{{/* Where the console's users Secret is mounted. */}}
{{- define "kisflow.usersPath" -}}/etc/kisflow-users{{- end }}

{{/* The config directory inside the container; the Dockerfile sets the same KISFLOW_CONFIG. */}}
{{- define "kisflow.configPath" -}}/etc/kisflow{{- end }}

{{/*
The config.files entry that holds the user's own global document: one named global.yml/global.yaml,
or one with a line "kistype: global". Empty when the chart generates the global document.
*/}}
{{- define "kisflow.userGlobalFile" -}}
{{- $found := "" }}
{{- range $name, $text := .Values.config.files }}
{{- if and (not $found) (or (has $name (list "global.yml" "global.yaml")) (regexMatch "(?m)^kistype:[ \\t]*[\"']?global[\"']?[ \\t]*(#.*)?$" (toString $text))) }}
{{- $found = $name }}
{{- end }}
{{- end }}
{{- $found }}
{{- end }}

{{/* "true" when the chart renders global.yml itself. */}}
{{- define "kisflow.generatesGlobal" -}}
{{- if and (not .Values.config.existingConfigMap) (not (include "kisflow.userGlobalFile" .)) }}true{{ end }}
{{- end }}

{{/* "true" when config.files holds something to run besides a global document. */}}
{{- define "kisflow.hasFlows" -}}
{{- $global := include "kisflow.userGlobalFile" . }}
{{- $any := false }}
{{- range $name, $_ := .Values.config.files }}
{{- if ne $name $global }}{{ $any = true }}{{ end }}
{{- end }}
{{- if or $any .Values.config.existingConfigMap }}true{{ end }}
{{- end }}

{{/* functions for the generated global document, as YAML: config.functions, else every module file. */}}
{{- define "kisflow.functions" -}}
{{- $fns := list }}
{{- if .Values.config.functions }}
{{- $fns = .Values.config.functions }}
{{- else }}
{{- range $name, $_ := .Values.config.files }}
{{- if and (regexMatch "\\.(m?js|m?ts)$" $name) (not (regexMatch "\\.d\\.m?ts$|\\.test\\.m?[jt]s$" $name)) }}
{{- $fns = append $fns $name }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $fns }}
{{- end }}

{{/* The global document the chart generates from values. */}}
{{- define "kisflow.globalDocument" -}}
{{- $kafka := mergeOverwrite (deepCopy (.Values.kafka.settings | default dict)) (dict "brokers" "${KAFKA_BROKERS}") }}
{{- $doc := mergeOverwrite (deepCopy (.Values.config.globalExtra | default dict)) (dict
  "app_id" (include "kisflow.appId" .)
  "prometheus_enable" (.Values.metrics.enabled | default false)
  "prometheus_listen" true
  "prometheus_serve" (printf "0.0.0.0:%d" (int .Values.port))
  "drain_timeout_ms" (mul (int .Values.drainTimeoutSeconds) 1000)
  "kafka" $kafka) }}
{{- if .Values.console.enabled }}
{{- $platform := dict
  "listen" (printf "0.0.0.0:%d" (int .Values.console.port))
  "base_path" .Values.console.basePath
  "status_interval_ms" (int .Values.console.statusIntervalMs)
  "history_minutes" (int .Values.console.historyMinutes)
  "session_secret" "${KIS_SESSION_SECRET}"
  "users_file" (printf "${KIS_USERS_FILE:-%s/%s}" (include "kisflow.usersPath" .) .Values.console.usersSecret.key) }}
{{- $_ := set $doc "platform" $platform }}
{{- end }}
{{- $_ := unset $doc "kistype" }}
{{- $fns := include "kisflow.functions" . | fromYamlArray }}
{{- if $fns }}{{ $_ := set $doc "functions" $fns }}{{ else }}{{ $_ := unset $doc "functions" }}{{ end -}}
# Generated by the kisflow chart from its values (kafka.brokers, appId, drainTimeoutSeconds, port, ...).
# To write your own, put a file with a kistype: global document in config.files.
kistype: global
{{ toYaml $doc }}
{{- end }}

{{/* The PDB's bounds as text, "" when unset: minAvailable, when set, replaces maxUnavailable. */}}
{{- define "kisflow.pdbMinAvailable" -}}
{{- with .Values.podDisruptionBudget.minAvailable }}{{ . }}{{ end }}
{{- end }}
{{- define "kisflow.pdbMaxUnavailable" -}}
{{- if not (include "kisflow.pdbMinAvailable" .) }}
{{- $m := .Values.podDisruptionBudget.maxUnavailable }}
{{- if not (or (kindIs "invalid" $m) (eq (toString $m) "")) }}{{ $m }}{{ end }}
{{- end }}
{{- end }}

{{/*
Checks that stop rendering with a message naming the value, for combinations that cannot run.
Included once, from the Deployment.
*/}}
{{- define "kisflow.validate" -}}
{{- $v := .Values }}
{{- if and $v.config.existingConfigMap $v.config.files }}
{{- fail "config.existingConfigMap and config.files are both set: mount an existing ConfigMap or let the chart render config.files, not both" }}
{{- end }}
{{- range $name, $text := $v.config.files }}
{{- if not (regexMatch "^[-._a-zA-Z0-9]+$" $name) }}
{{- fail (printf "config.files: %q is not a valid ConfigMap key (letters, digits, '-', '_' and '.' only; ids inside the files may be any UTF-8)" $name) }}
{{- end }}
{{- if not (kindIs "string" $text) }}
{{- fail (printf "config.files.%s must be the file's text (a string); use --set-file config.files.%s=path or a YAML block scalar (|)" $name $name) }}
{{- end }}
{{- end }}
{{- if and (include "kisflow.generatesGlobal" .) (include "kisflow.hasFlows" .) (not (include "kisflow.brokers" .)) }}
{{- fail "kafka.brokers is required: config.files holds flows and the chart-generated global document reads the cluster from ${KAFKA_BROKERS}. Set it (--set kafka.brokers='{kafka-0:9092,kafka-1:9092}'), or put your own kistype: global document in config.files" }}
{{- end }}
{{- if lt (int $v.drainTimeoutSeconds) 1 }}
{{- fail "drainTimeoutSeconds must be at least 1" }}
{{- end }}
{{- if lt (int $v.terminationGraceMarginSeconds) 1 }}
{{- fail "terminationGraceMarginSeconds must be at least 1: terminationGracePeriodSeconds has to exceed the drain timeout" }}
{{- end }}
{{- $userGlobal := include "kisflow.userGlobalFile" . }}
{{- if $userGlobal }}
{{- $doc := dict }}
{{- range $part := regexSplit "(?m)^---[ \\t]*$" (toString (get $v.config.files $userGlobal)) -1 }}
{{- $parsed := fromYaml $part }}
{{- if and (not $doc) (eq (toString (get $parsed "kistype")) "global") }}{{ $doc = $parsed }}{{ end }}
{{- end }}
{{- if $doc }}
{{- if ne (toString (get $doc "prometheus_listen")) "true" }}
{{- fail (printf "config.files.%s: the global document must set prometheus_listen: true, or the liveness and readiness probes (/healthz, /readyz) have nothing to reach" $userGlobal) }}
{{- end }}
{{- if not (hasSuffix (printf ":%d" (int $v.port)) (toString (get $doc "prometheus_serve"))) }}
{{- fail (printf "config.files.%s: prometheus_serve is %q but the chart's port is %d: write prometheus_serve: 0.0.0.0:%d (or set port)" $userGlobal (toString (get $doc "prometheus_serve")) (int $v.port) (int $v.port)) }}
{{- end }}
{{- if gt (int (get $doc "drain_timeout_ms" | default 30000)) (mul (int $v.drainTimeoutSeconds) 1000) }}
{{- fail (printf "config.files.%s: drain_timeout_ms %v is longer than drainTimeoutSeconds (%d s): raise drainTimeoutSeconds so Kubernetes waits for the drain" $userGlobal (get $doc "drain_timeout_ms") (int $v.drainTimeoutSeconds)) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $i, $s := $v.secretEnv }}
{{- $_ := required (printf "secretEnv[%d].name (the environment variable) is required" $i) $s.name }}
{{- $_ := required (printf "secretEnv[%d].secretName (an existing Secret) is required" $i) $s.secretName }}
{{- $_ := required (printf "secretEnv[%d].key (the key in Secret %s) is required" $i (toString $s.secretName)) $s.key }}
{{- end }}
{{- if $v.console.enabled }}
{{- $_ := required "console.usersSecret.name is required when console.enabled: an existing Secret whose key holds the users (name, role, password_hash or token)" $v.console.usersSecret.name }}
{{- $_ := required "console.sessionSecret.name is required when console.enabled: an existing Secret holding the key that signs session cookies (the same on every replica)" $v.console.sessionSecret.name }}
{{- if not (regexMatch "^/([^/]+/)*$" (toString $v.console.basePath)) }}
{{- fail (printf "console.basePath %q must start and end with '/' (e.g. / or /kisflow/)" (toString $v.console.basePath)) }}
{{- end }}
{{- if eq (int $v.console.port) (int $v.port) }}
{{- fail (printf "console.port %d is the metrics port: pick another" (int $v.console.port)) }}
{{- end }}
{{- if and $v.console.ingress.enabled (ne (toString $v.console.ingress.path) "/") (ne (printf "%s/" (trimSuffix "/" (toString $v.console.ingress.path))) (toString $v.console.basePath)) }}
{{- fail (printf "console.ingress.path %q needs console.basePath %q: the console builds its links from the base path" (toString $v.console.ingress.path) (printf "%s/" (trimSuffix "/" (toString $v.console.ingress.path)))) }}
{{- end }}
{{- $userGlobal := include "kisflow.userGlobalFile" . }}
{{- if $userGlobal }}
{{- range $part := regexSplit "(?m)^---[ \\t]*$" (toString (get $v.config.files $userGlobal)) -1 }}
{{- $parsed := fromYaml $part }}
{{- if eq (toString (get $parsed "kistype")) "global" }}
{{- $listen := toString (get (get $parsed "platform" | default dict) "listen") }}
{{- if not (hasSuffix (printf ":%d" (int $v.console.port)) $listen) }}
{{- fail (printf "config.files.%s: with console.enabled your global document needs platform.listen: 0.0.0.0:%d (found %q), users_file: %s/%s and session_secret: ${KIS_SESSION_SECRET}" $userGlobal (int $v.console.port) $listen (include "kisflow.usersPath" $) $v.console.usersSecret.key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $v.serviceMonitor.enabled (not $v.metrics.enabled) }}
{{- fail "serviceMonitor.enabled needs metrics.enabled: without prometheus_enable, /metrics answers 404" }}
{{- end }}
{{- if and $v.podDisruptionBudget.enabled (eq (include "kisflow.pdbMinAvailable" .) "") (eq (include "kisflow.pdbMaxUnavailable" .) "") }}
{{- fail "podDisruptionBudget.enabled needs minAvailable or maxUnavailable" }}
{{- end }}
{{- if $v.autoscaling.enabled }}
{{- if gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas) }}
{{- fail "autoscaling.minReplicas is larger than autoscaling.maxReplicas" }}
{{- end }}
{{- if and (not $v.autoscaling.targetCPUUtilizationPercentage) (not $v.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "autoscaling.enabled needs targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" }}
{{- end }}
{{- $requests := (($v.resources | default dict).requests | default dict) }}
{{- if and $v.autoscaling.targetCPUUtilizationPercentage (not $requests.cpu) }}
{{- fail "autoscaling.targetCPUUtilizationPercentage needs resources.requests.cpu: utilization is measured against the request" }}
{{- end }}
{{- if and $v.autoscaling.targetMemoryUtilizationPercentage (not $requests.memory) }}
{{- fail "autoscaling.targetMemoryUtilizationPercentage needs resources.requests.memory: utilization is measured against the request" }}
{{- end }}
{{- end }}
{{- end }}
