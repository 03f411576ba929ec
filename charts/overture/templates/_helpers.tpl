{{/* Names and labels shared by every template. */}}

{{- define "overture.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object name: <release>, or <release>-overture. */}}
{{- define "overture.fullname" -}}
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

{{- define "overture.selectorLabels" -}}
app.kubernetes.io/name: {{ include "overture.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "overture.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "overture.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: overture
{{- end }}

{{- define "overture.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "overture.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "overture.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The namespaces served in namespaced mode; fails the render on a bad scope or an empty list. */}}
{{- define "overture.servedNamespaces" -}}
{{- if eq .Values.rbac.scope "namespaced" }}
{{- if not .Values.rbac.namespaces }}
{{- fail "rbac.scope=namespaced needs rbac.namespaces, e.g. --set 'rbac.namespaces={analytics,etl}'" }}
{{- end }}
{{- join "," .Values.rbac.namespaces }}
{{- else if ne .Values.rbac.scope "cluster" }}
{{- fail (printf "rbac.scope must be \"cluster\" or \"namespaced\", not %q" .Values.rbac.scope) }}
{{- end }}
{{- end }}

{{/*
The rules the operator needs in every namespace it serves (a ClusterRole in cluster scope,
a Role per namespace in namespaced scope). Leases are separate: the release namespace only.
*/}}
{{- define "overture.operatorRules" -}}
- apiGroups: ["overture.dev"]
  resources: ["flows", "flows/status", "executions", "executions/status"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["overture.dev"]
  resources: ["tasktemplates"]
  verbs: ["get", "list", "watch"]  # read only: platform teams publish templates
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "delete"]
{{- if eq (toString .Values.operator.taskRuntime) "managed-job" }}
- apiGroups: ["batch"]
  resources: ["jobs/status"]
  verbs: ["patch"]  # the managed-job runtime: the operator writes its Jobs' ended status
{{- end }}
- apiGroups: [""]
  resources: ["pods"]
  {{- if has (toString .Values.operator.taskRuntime) (list "pod" "managed-job") }}
  verbs: ["get", "list", "watch", "create", "delete"]  # the pod and managed-job runtimes: the operator makes task pods
  {{- else }}
  verbs: ["get", "list", "watch"]
  {{- end }}
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch", "list"]  # list: a Job's FailedCreate, the reason a task pod was refused
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["list", "watch"]
{{- if or .Values.webhooks.enabled .Values.calls.readSecrets }}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
{{- end }}

{{/* ClusterTaskTemplates, which template tasks of every namespace may use: read-only, cluster-wide in both modes. */}}
{{- define "overture.clusterTemplateRules" -}}
- apiGroups: ["overture.dev"]
  resources: ["clustertasktemplates"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/* kopf's cluster-wide observers, and each namespace's task policy (rbac.clusterObservation): read-only. */}}
{{- define "overture.observationRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]  # get: a namespace's task policy (its overture.dev/* annotations)
{{- end }}

{{/*
The artifact store's settings (values `artifacts.*`), for the operator and the UI (archived logs).
*/}}
{{- define "overture.artifactsEnv" -}}
{{- with .Values.artifacts }}
            {{- if .endpoint }}
            - name: OVERTURE_S3_ENDPOINT
              value: {{ .endpoint | quote }}
            - name: OVERTURE_S3_BUCKET
              value: {{ .bucket | quote }}
            - name: OVERTURE_S3_REGION
              value: {{ .region | quote }}
            - name: OVERTURE_S3_ACCESS_KEY_ID
              valueFrom:
                secretKeyRef: {name: {{ required "artifacts.credentialsSecret is needed with artifacts.endpoint" .credentialsSecret | quote }}, key: accessKeyId}
            - name: OVERTURE_S3_SECRET_ACCESS_KEY
              valueFrom:
                secretKeyRef: {name: {{ .credentialsSecret | quote }}, key: secretAccessKey}
            - name: OVERTURE_WRAPPER_IMAGE
              value: {{ .wrapperImage | quote }}
            - name: OVERTURE_MAX_FILE_BYTES
              value: {{ .maxFileBytes | int64 | quote }}
            - name: OVERTURE_MAX_OUTPUTS_BYTES
              value: {{ .maxOutputsBytes | int64 | quote }}
            - name: OVERTURE_MAX_OUTPUT_FILES
              value: {{ .maxOutputFiles | int64 | quote }}
            - name: OVERTURE_OUTPUT_FILES_IF_NO_MATCH
              value: {{ .ifNoMatch | quote }}
            {{- end }}
            {{- end }}
{{- end }}

{{/* The admission bindings' scope: the served namespaces in rbac.scope=namespaced, else every one. */}}
{{- define "overture.admissionScope" -}}
{{- if include "overture.servedNamespaces" . }}
  matchResources:
    namespaceSelector:
      matchExpressions:
        - key: kubernetes.io/metadata.name
          operator: In
          values: {{ .Values.rbac.namespaces | toJson }}
{{- end }}
{{- end }}
