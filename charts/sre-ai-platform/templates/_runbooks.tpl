{{/*
Runbook sources (values.yaml `runbooks`): bundled, configMap, volume, git.
*/}}

{{/*
The effective source: `runbooks.source`, else the deprecated `runbooks.enabled` (configMap),
else the image's bundled runbooks.
*/}}
{{- define "sre-ai-platform.runbooksSource" -}}
{{- $r := .Values.runbooks }}
{{- if $r.source }}{{ $r.source }}{{ else if $r.enabled }}configMap{{ else }}bundled{{ end }}
{{- end }}

{{/*
SRE_AI_RUNBOOKS_DIR for the service; empty for the bundled runbooks (the image's default).
git-sync publishes each commit as a worktree behind the symlink `<root>/current` (swapped
atomically, relative so it resolves at our mount path too); the service watches the path
through the link and re-indexes when the files behind it change.
*/}}
{{- define "sre-ai-platform.runbooksDir" -}}
{{- $r := .Values.runbooks }}
{{- $source := include "sre-ai-platform.runbooksSource" . }}
{{- $mount := trimSuffix "/" $r.mountPath }}
{{- if eq $source "configMap" }}{{ $mount }}
{{- else if eq $source "volume" }}{{ $mount }}{{ with trimAll "/" $r.volume.subPath }}/{{ . }}{{ end }}
{{- else if eq $source "git" }}{{ $mount }}/current{{ with trimAll "/" $r.git.path }}/{{ . }}{{ end }}
{{- end }}
{{- end }}

{{/*
Combinations the chart refuses, each with what to do instead. (values.schema.json already
requires the fields each source needs; these are the unsafe or contradictory ones.)
*/}}
{{- define "sre-ai-platform.runbooks.validate" -}}
{{- $r := .Values.runbooks }}
{{- $source := include "sre-ai-platform.runbooksSource" . }}
{{- if and $r.enabled (ne $source "configMap") }}
{{- fail (printf "runbooks.enabled=true is the old spelling of runbooks.source=configMap, but runbooks.source=%s: remove runbooks.enabled" $source) }}
{{- end }}
{{- if and (eq $source "configMap") (not $r.extra) (not $r.existingConfigMap) }}
{{- fail "runbooks.source=configMap needs at least one runbook in runbooks.extra (file name: markdown) or runbooks.existingConfigMap (a ConfigMap you manage); for a team's corpus use runbooks.source=volume or git, or leave the source empty to use the runbooks bundled in the image" }}
{{- end }}
{{- if and $r.existingConfigMap $r.extra }}
{{- fail "runbooks.existingConfigMap and runbooks.extra are both set: the chart mounts one ConfigMap, so runbooks.extra would be ignored; keep one" }}
{{- end }}
{{- if and $r.existingConfigMap (ne $source "configMap") }}
{{- fail (printf "runbooks.existingConfigMap is set but runbooks.source=%s, so the ConfigMap would be ignored: set runbooks.source=configMap" $source) }}
{{- end }}
{{- if and (ne $source "volume") (or $r.volume.existingClaim $r.volume.spec) }}
{{- fail (printf "runbooks.volume is set but runbooks.source=%s, so the volume would be ignored: set runbooks.source=volume" $source) }}
{{- end }}
{{- if and (ne $source "git") $r.git.repo }}
{{- fail (printf "runbooks.git.repo is set but runbooks.source=%s, so the repository would be ignored: set runbooks.source=git" $source) }}
{{- end }}
{{- if eq $source "volume" }}
{{- if and $r.volume.existingClaim $r.volume.spec }}
{{- fail "runbooks.volume: set existingClaim or spec, not both" }}
{{- end }}
{{- if not (or $r.volume.existingClaim $r.volume.spec) }}
{{- fail "runbooks.source=volume needs runbooks.volume.existingClaim (a PersistentVolumeClaim holding the runbooks) or runbooks.volume.spec (e.g. nfs, csi)" }}
{{- end }}
{{- if and $r.volume.existingClaim (eq $r.volume.existingClaim (include "sre-ai-platform.ledgerClaimName" .)) }}
{{- fail "runbooks.volume.existingClaim is the ledger's claim: keep runbooks on a claim of their own (the ledger's is written by the service, runbooks are mounted read-only)" }}
{{- end }}
{{- end }}
{{- range $what, $path := dict "runbooks.volume.subPath" $r.volume.subPath "runbooks.git.path" $r.git.path }}
{{- if has ".." (splitList "/" $path) }}
{{- fail (printf "%s=%s must stay inside its volume: no '..'" $what $path) }}
{{- end }}
{{- end }}
{{- if eq $source "git" }}
{{- $g := $r.git }}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@]*:[^/@]*@" $g.repo }}
{{- fail "runbooks.git.repo carries a password or token in the URL, where it would be stored in the release and shown in the pod spec: put it in a Secret and set runbooks.git.auth.type=https, auth.existingSecret and auth.username" }}
{{- end }}
{{- if hasPrefix "http://" $g.repo }}
{{- fail "runbooks.git.repo uses plain http://: use https:// (or ssh) so the runbooks cannot be altered on the way" }}
{{- end }}
{{- $ssh := or (hasPrefix "ssh://" $g.repo) (regexMatch "^[^/:]+@[^/:]+:" $g.repo) }}
{{- if eq $g.auth.type "none" }}
{{- if $g.auth.existingSecret }}
{{- fail "runbooks.git.auth.existingSecret is set but runbooks.git.auth.type=none: set the type to https or ssh" }}
{{- end }}
{{- if $ssh }}
{{- fail "runbooks.git.repo is an SSH URL: set runbooks.git.auth.type=ssh with a Secret holding the key and known_hosts" }}
{{- end }}
{{- else }}
{{- if not $g.auth.existingSecret }}
{{- fail (printf "runbooks.git.auth.type=%s needs runbooks.git.auth.existingSecret (a Secret you create; the chart takes no secret as a value)" $g.auth.type) }}
{{- end }}
{{- if and (eq $g.auth.type "https") (not (hasPrefix "https://" $g.repo)) }}
{{- fail "runbooks.git.auth.type=https needs an https:// repository URL" }}
{{- end }}
{{- if and (eq $g.auth.type "https") (not $g.auth.username) }}
{{- fail "runbooks.git.auth.type=https needs runbooks.git.auth.username (any non-empty name for a token)" }}
{{- end }}
{{- if and (eq $g.auth.type "ssh") (not $ssh) }}
{{- fail "runbooks.git.auth.type=ssh needs an SSH repository URL (git@host:org/repo.git or ssh://...)" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The runbooks volume of the pod, for the sources that have one.
*/}}
{{- define "sre-ai-platform.runbooks.volume" -}}
{{- $r := .Values.runbooks }}
{{- $source := include "sre-ai-platform.runbooksSource" . }}
{{- if eq $source "configMap" }}
- name: runbooks
  configMap:
    name: {{ include "sre-ai-platform.runbooksConfigMapName" . }}
{{- else if and (eq $source "volume") $r.volume.existingClaim }}
- name: runbooks
  persistentVolumeClaim:
    claimName: {{ $r.volume.existingClaim }}
    readOnly: true
{{- else if eq $source "volume" }}
- name: runbooks
  {{- toYaml $r.volume.spec | nindent 2 }}
{{- else if eq $source "git" }}
# The checkout git-sync keeps; written by git-sync only.
- name: runbooks
  emptyDir:
    sizeLimit: {{ $r.git.sizeLimit }}
- name: git-sync-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if ne $r.git.auth.type "none" }}
- name: git-credentials
  secret:
    secretName: {{ $r.git.auth.existingSecret }}
    # Group-readable: git-sync reads them through the pod's fsGroup; nobody else can.
    defaultMode: 0440
{{- end }}
{{- end }}
{{- end }}

{{- define "sre-ai-platform.gitSyncImage" -}}
{{- $i := .Values.runbooks.git.image }}
{{- $ref := printf "%s:%s" $i.repository (toString $i.tag) }}
{{- if $i.digest }}{{ $ref = printf "%s@%s" $ref $i.digest }}{{ end }}
{{- $ref }}
{{- end }}

{{/*
git-sync as a native sidecar (an init container that keeps running; Kubernetes 1.29+): it
starts before the service and its startup probe (git-sync's HTTP endpoint answers 200 only
after the first sync) holds the service back until the runbooks are there.
*/}}
{{- define "sre-ai-platform.runbooks.gitSync" -}}
{{- $g := .Values.runbooks.git }}
- name: git-sync
  image: {{ include "sre-ai-platform.gitSyncImage" . | quote }}
  imagePullPolicy: {{ $g.image.pullPolicy }}
  restartPolicy: Always
  args:
    - {{ printf "--repo=%v" $g.repo | quote }}
    - {{ printf "--ref=%v" $g.ref | quote }}
    - --root=/git
    - --link=current
    - {{ printf "--period=%v" $g.period | quote }}
    - {{ printf "--depth=%v" $g.depth | quote }}
    - {{ printf "--max-failures=%v" $g.maxFailures | quote }}
    - {{ printf "--http-bind=:%v" $g.httpPort | quote }}
    {{- if eq $g.auth.type "https" }}
    - {{ printf "--username=%v" $g.auth.username | quote }}
    - {{ printf "--password-file=/etc/git-secret/%v" $g.auth.passwordKey | quote }}
    {{- else if eq $g.auth.type "ssh" }}
    - {{ printf "--ssh-key-file=/etc/git-secret/%v" $g.auth.sshKeyKey | quote }}
    - --ssh-known-hosts=true
    - {{ printf "--ssh-known-hosts-file=/etc/git-secret/%v" $g.auth.knownHostsKey | quote }}
    {{- end }}
    {{- range $g.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  env:
    # git-sync's user has HOME=/tmp; its private git config is a temporary file there.
    - name: HOME
      value: /tmp
  ports:
    - name: git-sync
      containerPort: {{ $g.httpPort }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: /
      port: git-sync
    periodSeconds: 2
    timeoutSeconds: 2
    failureThreshold: {{ max 1 (div (int $g.firstSyncTimeoutSeconds) 2) }}
  resources:
    {{- toYaml $g.resources | nindent 4 }}
  securityContext:
    {{- toYaml $g.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: runbooks
      mountPath: /git
    - name: git-sync-tmp
      mountPath: /tmp
    {{- if ne $g.auth.type "none" }}
    - name: git-credentials
      mountPath: /etc/git-secret
      readOnly: true
    {{- end }}
{{- end }}
