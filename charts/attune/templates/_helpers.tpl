{{/*
Names, labels and the pieces every attune workload shares.
Component helpers take (dict "root" $ "name" <service name>).
*/}}

{{- define "attune.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "attune.fullname" -}}
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

{{- define "attune.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "attune.selectorLabels" -}}
app.kubernetes.io/name: {{ include "attune.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "attune.labels" -}}
helm.sh/chart: {{ include "attune.chart" . }}
{{ include "attune.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: attune
{{- end }}

{{/* <fullname>-<service>, e.g. attune-model. */}}
{{- define "attune.componentName" -}}
{{- printf "%s-%s" (include "attune.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "attune.componentSelectorLabels" -}}
{{ include "attune.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "attune.componentLabels" -}}
{{ include "attune.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* Image reference from (dict "root" $ "image" <repository, tag>). */}}
{{- define "attune.image" -}}
{{- $repo := .image.repository }}
{{- with .root.Values.image.registry }}
{{- $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}
{{- end }}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- printf "%s:%s" $repo (toString $tag) }}
{{- end }}

{{- define "attune.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "attune.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "attune.authSecretName" -}}
{{- .Values.auth.existingSecret | default (printf "%s-auth" (include "attune.fullname" .)) }}
{{- end }}

{{- define "attune.dataClaimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "attune.fullname" .)) }}
{{- end }}

{{/* ATTUNE_AUTH_TOKEN from the Secret, when a token is configured. */}}
{{/*
TLS (tls in values.yaml): the ATTUNE_TLS_* variables, the Secret's volume and its mount, for every pod.
*/}}
{{- define "attune.tlsEnv" -}}
{{- if .Values.tls.enabled }}
{{- if not .Values.tls.secretName }}
{{- fail "tls.secretName is empty: name the Secret with tls.crt, tls.key and ca.crt (e.g. cert-manager's)" }}
{{- end }}
- name: ATTUNE_TLS_CERT
  value: /etc/attune/tls/tls.crt
- name: ATTUNE_TLS_KEY
  value: /etc/attune/tls/tls.key
- name: ATTUNE_TLS_CA
  value: /etc/attune/tls/ca.crt
- name: ATTUNE_TLS_CLIENT_AUTH
  value: {{ .Values.tls.clientAuth | quote }}
{{- end }}
{{- end }}

{{- define "attune.tlsMount" -}}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/attune/tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "attune.tlsVolume" -}}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
{{- end }}
{{- end }}

{{- define "attune.authEnv" -}}
{{- if or .Values.auth.token .Values.auth.existingSecret }}
- name: ATTUNE_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "attune.authSecretName" . }}
      key: {{ .Values.auth.secretKey }}
{{- end }}
{{- end }}

{{/*
The environment of one service (dict "root" $ "name" <name> "svc" <values>):
common env, the service's env, its gpu env when on GPU, then what the chart
owns: data dir, listen address and ports (the probes and Service use them).
Values go through `tpl`, so one service can name another's address, e.g.
"{{ .Release.Name }}-attune-model:50051".
*/}}
{{- define "attune.serviceEnv" -}}
{{- $svc := .svc }}
{{- $gpu := dig "gpu" "enabled" false $svc }}
{{- $env := mustMergeOverwrite (dict) (deepCopy (.root.Values.env | default dict)) (deepCopy ($svc.env | default dict)) }}
{{- if $gpu }}
{{- $env = mustMergeOverwrite $env (deepCopy (dig "gpu" "env" dict $svc)) }}
{{- end }}
{{- $_ := set $env "ATTUNE_DATA_DIR" .root.Values.persistence.mountPath }}
{{- $_ := set $env (printf "%sHOST" $svc.envPrefix) "0.0.0.0" }}
{{- $_ := set $env (printf "%sPORT" $svc.envPrefix) $svc.port }}
{{- $_ := set $env (printf "%sMETRICS_PORT" $svc.envPrefix) ($svc.metricsPort | default 0) }}
{{- $root := .root }}
{{- range $k, $v := $env }}
{{ $k }}: {{ tpl (toString $v) $root | quote }}
{{- end }}
{{- end }}

{{/*
One probe (dict "root" $ "port" <grpc port> "probe" <period, timeout, thresholds>):
the kubelet's gRPC health probe, or the exec fallback.
*/}}
{{- define "attune.probe" -}}
{{- $p := .probe }}
{{- /* The kubelet's gRPC probe cannot speak TLS: with TLS on, the exec health check (which does). */}}
{{- if or (eq .root.Values.probes.type "exec") .root.Values.tls.enabled }}
exec:
  command:
    - python3
    - -m
    - attune.services.common.healthcheck
    - {{ printf "127.0.0.1:%v" .port | quote }}
    - --quiet
    - --timeout
    - {{ max 1 (sub (int $p.timeoutSeconds) 1) | quote }}
{{- else if eq .root.Values.probes.type "grpc" }}
grpc:
  port: {{ .port }}
{{- else }}
{{- fail (printf "probes.type must be grpc or exec, not %q" .root.Values.probes.type) }}
{{- end }}
{{- range $k := list "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "successThreshold" "failureThreshold" }}
{{- if hasKey $p $k }}
{{ $k }}: {{ index $p $k }}
{{- end }}
{{- end }}
{{- end }}

{{/* The data volume: the PVC, or an emptyDir when persistence is off. */}}
{{- define "attune.dataVolume" -}}
- name: data
{{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "attune.dataClaimName" . }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end }}

{{/*
"true" when a service keeps single-writer state on a volume of its own
(dict "root" $ "svc" <values>): `state.enabled`, a boolean or a string rendered
with `tpl` (e.g. '{{ not .Values.qdrant.url }}'); else empty.
*/}}
{{- define "attune.stateEnabled" -}}
{{- $on := dig "state" "enabled" false .svc }}
{{- if kindIs "string" $on }}
{{- $on = eq (tpl $on .root | trim | lower) "true" }}
{{- end }}
{{- if $on }}true{{ end }}
{{- end }}

{{/* The claim of a service's own state volume (dict "root" $ "name" <name> "svc" <values>). */}}
{{- define "attune.stateClaimName" -}}
{{- dig "state" "existingClaim" "" .svc | default (printf "%s-data" (include "attune.componentName" .)) }}
{{- end }}

{{/*
The data volume of one service (dict "root" $ "name" <name> "svc" <values>),
mounted at persistence.mountPath (ATTUNE_DATA_DIR): its own state claim when
state is enabled, else the shared one; an emptyDir when persistence is off.
*/}}
{{- define "attune.serviceDataVolume" -}}
{{- if and .root.Values.persistence.enabled (include "attune.stateEnabled" .) }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "attune.stateClaimName" . }}
{{- else }}
{{- include "attune.dataVolume" .root }}
{{- end }}
{{- end }}

{{/*
The gRPC address of another service of this release, host:port, for
ATTUNE_<NAME>_TARGET (dict "root" $ "name" <service name>). Empty when that
service is not enabled here: an empty target turns an optional peer off, and
env can name an address outside the release instead.
*/}}
{{- define "attune.serviceTarget" -}}
{{- $svc := index .root.Values.services .name | default dict }}
{{- if $svc.enabled }}
{{- printf "%s:%v" (include "attune.componentName" .) $svc.port }}
{{- end }}
{{- end }}

{{/* The Secret holding the Qdrant API key; empty when no key is configured. */}}
{{- define "attune.qdrantSecretName" -}}
{{- if .Values.qdrant.existingSecret }}
{{- .Values.qdrant.existingSecret }}
{{- else if .Values.qdrant.apiKey }}
{{- printf "%s-qdrant" (include "attune.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Variables from Secrets for one service (dict "root" $ "svc" <values>): its
`secretEnv` map, NAME: {name, key}, both rendered with `tpl`. An entry whose
Secret name renders empty is left out.
*/}}
{{- define "attune.secretEnv" -}}
{{- $root := .root }}
{{- range $k, $ref := (.svc.secretEnv | default dict) }}
{{- $name := tpl (toString $ref.name) $root | trim }}
{{- if $name }}
- name: {{ $k }}
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ tpl (toString $ref.key) $root | trim }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The LoRA adapter folder on the shared data volume: the trainer publishes there
(ATTUNE_TRAINER_ADAPTER_DIR, and the trainer Job), the model service reads it
(ATTUNE_MODEL_ADAPTER_DIR).
*/}}
{{- define "attune.adapterDir" -}}
{{- printf "%s/adapters" (trimSuffix "/" .Values.persistence.mountPath) }}
{{- end }}

{{/*
Why a service runs as exactly one replica with the Recreate strategy
(dict "root" $ "name" <name> "svc" <values>); empty when it may scale. Either
its state is on a volume of its own (`state`), or it is the single writer of
state on the shared volume (`singleWriter`).
*/}}
{{- define "attune.singleWriter" -}}
{{- if include "attune.stateEnabled" . }}
{{- printf "%s keeps single-writer state on a volume of its own (services.%s.state) and runs as one replica: %s" .name .name (dig "state" "why" "its store takes one writer" .svc) }}
{{- else if dig "singleWriter" "enabled" false .svc }}
{{- printf "%s is the single writer of its state on the shared volume (services.%s.singleWriter) and runs as one replica: %s" .name .name (dig "singleWriter" "why" "its state takes one writer" .svc) }}
{{- end }}
{{- end }}

{{/*
Fails the render unless the model service reads adapters where the trainer
publishes them: the same folder, under persistence.mountPath, and both pods on
the shared volume (not on a state volume of their own). Checked when both are
enabled.
*/}}
{{- define "attune.checkAdapterDir" -}}
{{- $model := .Values.services.model | default dict }}
{{- $trainer := .Values.services.trainer | default dict }}
{{- if and $model.enabled $trainer.enabled }}
{{- $mount := trimSuffix "/" .Values.persistence.mountPath }}
{{- $dirs := dict }}
{{- range $name, $key := dict "model" "ATTUNE_MODEL_ADAPTER_DIR" "trainer" "ATTUNE_TRAINER_ADAPTER_DIR" }}
{{- $svc := index $.Values.services $name }}
{{- $ctx := dict "root" $ "name" $name "svc" $svc }}
{{- $env := include "attune.serviceEnv" $ctx | fromYaml }}
{{- $dir := trimSuffix "/" (toString (index $env $key | default "")) }}
{{- if not (hasPrefix (printf "%s/" $mount) $dir) }}
{{- fail (printf "services.%s.env.%s is %q: it must be a folder on the shared data volume (under persistence.mountPath %s), where the trainer publishes adapters and the model reads them" $name $key $dir $mount) }}
{{- end }}
{{- if include "attune.stateEnabled" $ctx }}
{{- fail (printf "services.%s.state is enabled: %s must stay on the shared data volume, where the trainer publishes adapters and the model reads them" $name $name) }}
{{- end }}
{{- $_ := set $dirs $name $dir }}
{{- end }}
{{- if ne $dirs.model $dirs.trainer }}
{{- fail (printf "services.model.env.ATTUNE_MODEL_ADAPTER_DIR (%s) and services.trainer.env.ATTUNE_TRAINER_ADAPTER_DIR (%s) differ: the model would not see the adapters the trainer publishes" $dirs.model $dirs.trainer) }}
{{- end }}
{{- end }}
{{- end }}
