{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "sre-ai-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it already contains the chart name, else "<release>-<chart>".
*/}}
{{- define "sre-ai-platform.fullname" -}}
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

{{/*
"<chart>-<version>" for the helm.sh/chart label.
*/}}
{{- define "sre-ai-platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: stable for the life of a release, so never the chart version.
*/}}
{{- define "sre-ai-platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sre-ai-platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "sre-ai-platform.labels" -}}
helm.sh/chart: {{ include "sre-ai-platform.chart" . }}
{{ include "sre-ai-platform.selectorLabels" . }}
app.kubernetes.io/version: {{ include "sre-ai-platform.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sre-ai-platform
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Redis: its own component so its selector never matches the service's pods.
*/}}
{{- define "sre-ai-platform.redis.fullname" -}}
{{- /* The name it always had (its StatefulSet's volume holds the shared ledger: a new name
under an existing install is a new, empty Redis), unless that name was the full name alone (a
full name of 63 characters), where its Service collided with the service's own. */}}
{{- $fullname := include "sre-ai-platform.fullname" . }}
{{- $name := printf "%s-redis" $fullname | trunc 63 | trimSuffix "-" }}
{{- if eq $name $fullname }}
{{- $name = include "sre-ai-platform.suffixed" (list . "-redis") }}
{{- end }}
{{- $name }}
{{- end }}

{{- define "sre-ai-platform.redis.selectorLabels" -}}
{{ include "sre-ai-platform.selectorLabels" . }}
app.kubernetes.io/component: redis
{{- end }}

{{/*
The Secret holding the in-release Redis password: the user's, or the one the chart generates.
*/}}
{{- define "sre-ai-platform.redis.secretName" -}}
{{- default (include "sre-ai-platform.redis.fullname" .) .Values.redis.auth.existingSecret }}
{{- end }}

{{/*
The generated Redis password, base64: the one already in the cluster (kept across upgrades),
else 32 new random letters and digits (URL-safe, ~190 bits).
*/}}
{{- define "sre-ai-platform.redis.passwordB64" -}}
{{- $key := .Values.redis.auth.existingSecretPasswordKey }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "sre-ai-platform.redis.secretName" .) }}
{{- if and $existing (index (default dict $existing.data) $key) }}
{{- index $existing.data $key }}
{{- else }}
{{- randAlphaNum 32 | b64enc }}
{{- end }}
{{- end }}

{{- define "sre-ai-platform.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sre-ai-platform.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image tag: the chart's appVersion unless set; "latest" is refused (it makes rollbacks lie).
*/}}
{{- define "sre-ai-platform.imageTag" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString }}
{{- if eq $tag "latest" }}
{{- fail "image.tag must not be \"latest\": pin a version (the default is the chart's appVersion)" }}
{{- end }}
{{- $tag }}
{{- end }}

{{- define "sre-ai-platform.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (include "sre-ai-platform.imageTag" .) }}
{{- if .Values.image.digest }}
{{- $ref = printf "%s@%s" $ref .Values.image.digest }}
{{- end }}
{{- $ref }}
{{- end }}

{{/*
"<fullname><suffix>" within Kubernetes' 63 characters: the full name is cut to make room for the
suffix, never the suffix (cut after it, a long release name made "-policy", "-runbooks",
"-policy-applied" and the dashboards all the same name, and "-metrics" an invalid one).
Call: include "sre-ai-platform.suffixed" (list . "-policy")
*/}}
{{- define "sre-ai-platform.suffixed" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 | trunc 62 }}
{{- $room := int (sub 63 (len $suffix)) }}
{{- printf "%s%s" (include "sre-ai-platform.fullname" $root | trunc $room | trimSuffix "-") $suffix }}
{{- end }}

{{- define "sre-ai-platform.policyConfigMapName" -}}
{{- include "sre-ai-platform.suffixed" (list . "-policy") }}
{{- end }}

{{- /* Where pods record the last applied policy (kubernetes source): a pod started after an
invalid edit starts on it instead of crash-looping. Created empty here; only the pods write it. */}}
{{- define "sre-ai-platform.policyAppliedConfigMapName" -}}
{{- include "sre-ai-platform.suffixed" (list . "-policy-applied") }}
{{- end }}

{{/*
The runbooks ConfigMap: the user's `runbooks.existingConfigMap`, else the one the chart renders
from `runbooks.extra`.
*/}}
{{- define "sre-ai-platform.runbooksConfigMapName" -}}
{{- default (include "sre-ai-platform.suffixed" (list . "-runbooks")) .Values.runbooks.existingConfigMap }}
{{- end }}

{{- define "sre-ai-platform.apiKeysSecretName" -}}
{{- default (include "sre-ai-platform.suffixed" (list . "-api-keys")) .Values.auth.existingSecret }}
{{- end }}

{{/*
Whether client API keys are configured (the Secret is mounted, the test pod sends a key).
*/}}
{{- define "sre-ai-platform.authEnabled" -}}
{{- if or .Values.auth.existingSecret .Values.auth.apiKeys }}true{{ end }}
{{- end }}

{{/*
The chart's own Secret holds the Anthropic key and the external Redis URL when they are given
as values. Rendered only when it has something to hold.
*/}}
{{- define "sre-ai-platform.secretName" -}}
{{- include "sre-ai-platform.fullname" . }}
{{- end }}

{{- define "sre-ai-platform.chartSecretNeeded" -}}
{{- if or (and .Values.anthropic.apiKey (not .Values.anthropic.existingSecret)) (and .Values.externalRedis.url (not .Values.externalRedis.existingSecret)) }}true{{ end }}
{{- end }}

{{/*
A shared ledger exists: in-release Redis or an external one.
*/}}
{{- define "sre-ai-platform.sharedLedger" -}}
{{- if or .Values.redis.enabled .Values.externalRedis.url .Values.externalRedis.existingSecret }}true{{ end }}
{{- end }}

{{/*
The claim holding the SQLite ledger: the existing one, the chart's own, or none (Redis is the
ledger, or persistence is off and the ledger is on an emptyDir).
*/}}
{{- define "sre-ai-platform.ledgerClaimName" -}}
{{- $p := .Values.ledger.persistence }}
{{- if and $p.enabled (not (include "sre-ai-platform.sharedLedger" .)) }}
{{- /* Not "sre-ai-platform.suffixed": the claim holds the money record, and its name must not
change under an existing install (a new name is a new, empty ledger). A long name cut to the
full name alone never collided: a claim is the only PersistentVolumeClaim the chart makes. */}}
{{- default (printf "%s-ledger" (include "sre-ai-platform.fullname" .) | trunc 63 | trimSuffix "-") $p.existingClaim }}
{{- end }}
{{- end }}

{{/*
Checks that make the chart refuse a broken combination with a clear message.
*/}}
{{- define "sre-ai-platform.validate" -}}
{{- if not (include "sre-ai-platform.sharedLedger" .) }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- fail (printf "replicaCount=%d needs a shared budget ledger: set redis.enabled=true or externalRedis.url (each replica would otherwise keep its own SQLite ledger and the budget would be spent %d times)" (int .Values.replicaCount) (int .Values.replicaCount)) }}
{{- end }}
{{- if .Values.autoscaling.enabled }}
{{- fail "autoscaling.enabled=true needs a shared budget ledger: set redis.enabled=true or externalRedis.url (each replica would otherwise keep its own SQLite ledger)" }}
{{- end }}
{{- end }}
{{- if and .Values.redis.enabled (or .Values.externalRedis.url .Values.externalRedis.existingSecret) }}
{{- fail "choose one Redis: redis.enabled=true or externalRedis, not both" }}
{{- end }}
{{- if and .Values.anthropic.apiKey .Values.anthropic.existingSecret }}
{{- fail "choose one source for the Anthropic key: anthropic.apiKey or anthropic.existingSecret, not both" }}
{{- end }}
{{- $timeout := 30.0 }}
{{- if and .Values.policy .Values.policy.llm }}
{{- $timeout = float64 (default 30 .Values.policy.llm.timeout_seconds) }}
{{- end }}
{{- $needed := addf $timeout (float64 .Values.lifecycle.preStopSleepSeconds) }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds=%v must be longer than lifecycle.preStopSleepSeconds + policy.llm.timeout_seconds = %v, or pods are killed in the middle of LLM calls" .Values.terminationGracePeriodSeconds $needed) }}
{{- end }}
{{- $ledgerDir := printf "%s/" (trimSuffix "/" .Values.ledger.path) }}
{{- range .Values.extraEnv }}
{{- if and (has .name (list "SRE_AI_LEDGER_PATH" "SRE_AI_SPOOL_DIR")) (not (hasPrefix $ledgerDir (toString .value))) }}
{{- fail (printf "extraEnv %s=%v is outside ledger.path (%s): only that directory is on the ledger volume, so this data would be lost with the pod" .name .value $.Values.ledger.path) }}
{{- end }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- $maxUnavailable := toString .Values.podDisruptionBudget.maxUnavailable }}
{{- if or (eq $maxUnavailable "0") (eq $maxUnavailable "0%") }}
{{- fail "podDisruptionBudget.maxUnavailable=0 would block every node drain for ever (one replica by default): allow at least 1, or set podDisruptionBudget.enabled=false" }}
{{- end }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail "autoscaling.maxReplicas must be >= autoscaling.minReplicas" }}
{{- end }}
{{- if and .Values.alertmanager.config.enabled (include "sre-ai-platform.authEnabled" .) (not .Values.alertmanager.config.credentials.existingSecret) }}
{{- fail "alertmanager.config.enabled with client API keys (auth) needs alertmanager.config.credentials.existingSecret: a Secret with one raw key that Alertmanager sends as a bearer token (without it every notification gets 401)" }}
{{- end }}
{{- if and .Values.alerts.webhook.tokenKey (not .Values.alerts.webhook.existingSecret) }}
{{- fail "alerts.webhook.tokenKey is set but alerts.webhook.existingSecret is empty: the URL and the token come from that Secret" }}
{{- end }}
{{- include "sre-ai-platform.validateRouting" . }}
{{- $chartVolumes := list "policy" "runbooks" "api-keys" "alert-webhook" "ledger" "tmp" "git-sync-tmp" "git-credentials" }}
{{- range .Values.extraVolumes }}
{{- if has .name $chartVolumes }}
{{- fail (printf "extraVolumes: the name %q is the chart's own volume (%s): pick another name" .name (join ", " $chartVolumes)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The routing's models must be priced in `policy.models` (after Helm merged the user's map with
the defaults, where `null` removes a model): the service would refuse such a policy at start-up,
so the chart refuses it first, naming the model and the priced ones.
*/}}
{{- define "sre-ai-platform.validateRouting" -}}
{{- $models := default dict .Values.policy.models }}
{{- $priced := list }}
{{- range $name, $price := $models }}{{ if $price }}{{ $priced = append $priced $name }}{{ end }}{{ end }}
{{- $routing := default dict .Values.policy.routing }}
{{- range $field := list "default_model" "fallback_model" }}
{{- $model := index $routing $field }}
{{- if and $model (not (has $model $priced)) }}
{{- fail (printf "policy.routing.%s=%s has no price in policy.models (priced: %s): add it under policy.models with input/output prices, or route to a priced model" $field $model (join ", " (sortAlpha $priced))) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Whether to render the Prometheus Operator objects (ServiceMonitor, PrometheusRule): the cluster
serves monitoring.coreos.com/v1 (helm template: --api-versions monitoring.coreos.com/v1), or
`monitoring.forceRender` says so for renderers that cannot see the cluster (helm template,
Argo CD, Flux).
*/}}
{{- define "sre-ai-platform.hasPrometheusOperator" -}}
{{- if or .Values.monitoring.forceRender (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}true{{ end }}
{{- end }}

{{/*
Whether the Prometheus Operator's AlertmanagerConfig API is served (helm template:
--api-versions monitoring.coreos.com/v1alpha1/AlertmanagerConfig).
*/}}
{{- define "sre-ai-platform.hasAlertmanagerConfig" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1alpha1/AlertmanagerConfig" }}true{{ end }}
{{- end }}
