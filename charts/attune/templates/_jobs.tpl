{{/*
One batch Job of attune, the shape every Job of the chart shares (the run's
shards, an adapter-training run, and the run Jobs the orchestrator creates
through the Kubernetes API from the ConfigMap of orchestrator-jobs.yaml):
  dict "root" $ "component" <label> "name" <Job name> "job" <its values>
       "spec" <Job spec fields: completions, backoff...> "container" <container name>
       "command" <list> "args" <list> "env" <list of name/value> "shm" <bool>
The values under "job" give image, env, resources, deadlines, placement and
pod annotations; the chart gives the service account, auth, the data volume
and the security contexts.
*/}}
{{- define "attune.job" -}}
{{- $root := .root }}
{{- $job := .job }}
{{- $labels := dict "root" $root "name" .component }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .name }}
  labels:
    {{- include "attune.componentLabels" $labels | nindent 4 }}
spec:
  {{- toYaml .spec | nindent 2 }}
  {{- with $job.activeDeadlineSeconds }}
  activeDeadlineSeconds: {{ . }}
  {{- end }}
  {{- with $job.ttlSecondsAfterFinished }}
  ttlSecondsAfterFinished: {{ . }}
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "attune.componentSelectorLabels" $labels | nindent 8 }}
      {{- with $job.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ include "attune.serviceAccountName" $root }}
      enableServiceLinks: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $job.runtimeClassName }}
      runtimeClassName: {{ . }}
      {{- end }}
      containers:
        - name: {{ .container }}
          image: {{ include "attune.image" (dict "root" $root "image" $job.image) | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command:
            {{- toYaml .command | nindent 12 }}
          {{- with concat (.args | default list) ($job.args | default list) }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          env:
            - name: ATTUNE_DATA_DIR
              value: {{ $root.Values.persistence.mountPath | quote }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- range $k, $v := mustMergeOverwrite (dict) (deepCopy ($root.Values.env | default dict)) (deepCopy ($job.env | default dict)) }}
            - name: {{ $k }}
              value: {{ tpl (toString $v) $root | quote }}
            {{- end }}
            {{- with include "attune.authEnv" $root | trim }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with include "attune.tlsEnv" $root | trim }}
            {{- . | nindent 12 }}
            {{- end }}
          resources:
            {{- toYaml $job.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: data
              mountPath: {{ $root.Values.persistence.mountPath }}
            - name: tmp
              mountPath: /tmp
            {{- if .shm }}
            - name: dshm
              mountPath: /dev/shm
            {{- end }}
            {{- with include "attune.tlsMount" $root | trim }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "attune.dataVolume" $root | nindent 8 }}
        - name: tmp
          emptyDir: {}
        {{- if .shm }}
        - name: dshm
          emptyDir:
            medium: Memory
        {{- end }}
        {{- with include "attune.tlsVolume" $root | trim }}
        {{- . | nindent 8 }}
        {{- end }}
      {{- with $job.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $job.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/*
The run Job of one benchmark experiment (dict "root" $ "name" <Job name> "run" <run name>
"experiment" <file>): `attune run <experiment> --shards N` in each index, with
JOB_COMPLETION_INDEX = the shard, against the services' targets.
*/}}
{{- define "attune.runJob" -}}
{{- $root := .root }}
{{- $job := $root.Values.runJob }}
{{- $env := list }}
{{- range $name := list "model" "extractor" "retrieval" "uservec" "judge" "trainer" }}
{{- with include "attune.serviceTarget" (dict "root" $root "name" $name) }}
{{- $env = append $env (dict "name" (printf "ATTUNE_%s_TARGET" (upper $name)) "value" .) }}
{{- end }}
{{- end }}
{{- $args := list (tpl (toString .experiment) $root) "--shards" (toString $job.shards) "--transport" "grpc" "--output-dir" (printf "%s/runs/%s" $root.Values.persistence.mountPath .run) "--json-logs" }}
{{- $spec := dict "completionMode" "Indexed" "completions" $job.shards "parallelism" $job.parallelism "backoffLimitPerIndex" $job.backoffLimitPerIndex }}
{{- include "attune.job" (dict "root" $root "component" "run-job" "name" .name "job" $job "spec" $spec "container" "shard" "command" (list "python3" "-m" "attune.orchestrator.cli" "run") "args" $args "env" $env) }}
{{- end }}
