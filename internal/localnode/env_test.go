package localnode

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func TestEnvResolve(t *testing.T) {
	secrets := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	configMaps := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	_ = secrets.Add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "creds"}, Data: map[string][]byte{"token": []byte("s3cr3t"), "USER": []byte("bob")}})
	_ = configMaps.Add(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"region": "eu", "MODE": "fast"}})
	r := envResolver{
		secrets:     corev1listers.NewSecretLister(secrets),
		configMaps:  corev1listers.NewConfigMapLister(configMaps),
		address:     "127.0.0.1",
		allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "job-0-abc", UID: "uid-1",
			Labels:      map[string]string{"app": "sync"},
			Annotations: map[string]string{"batch.kubernetes.io/job-completion-index": "3"},
		},
		Spec: corev1.PodSpec{NodeName: "localnode"},
	}
	fieldRef := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	tests := []struct {
		name    string
		c       corev1.Container
		want    map[string]string
		wantErr string
	}{
		{
			name: "values and references",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "A", Value: "1"},
				{Name: "B", Value: "$(A)-2"},
				{Name: "C", Value: "$(LATER)"},
				{Name: "LATER", Value: "x"},
			}},
			want: map[string]string{"A": "1", "B": "1-2", "C": "$(LATER)", "LATER": "x"},
		},
		{
			name: "secret, configmap and downward API",
			c: corev1.Container{Name: "w", Env: []corev1.EnvVar{
				{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}},
				{Name: "REGION", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "region"}}},
				{Name: "JOB_COMPLETION_INDEX", ValueFrom: fieldRef("metadata.annotations['batch.kubernetes.io/job-completion-index']")},
				{Name: "APP", ValueFrom: fieldRef("metadata.labels['app']")},
				{Name: "NAME", ValueFrom: fieldRef("metadata.name")},
				{Name: "NS", ValueFrom: fieldRef("metadata.namespace")},
				{Name: "UID", ValueFrom: fieldRef("metadata.uid")},
				{Name: "NODE", ValueFrom: fieldRef("spec.nodeName")},
				{Name: "IP", ValueFrom: fieldRef("status.podIP")},
				{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
				{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			}},
			want: map[string]string{
				"TOKEN": "s3cr3t", "REGION": "eu", "JOB_COMPLETION_INDEX": "3", "APP": "sync",
				"NAME": "job-0-abc", "NS": "ns", "UID": "uid-1", "NODE": "localnode", "IP": "127.0.0.1",
				"CPU": "4", "MEM_MI": "8192",
			},
		},
		{
			name: "envFrom with prefix, env wins",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
					{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}},
				},
				Env: []corev1.EnvVar{{Name: "MODE", Value: "slow"}},
			},
			want: map[string]string{"MODE": "slow", "region": "eu", "S_USER": "bob", "S_token": "s3cr3t"},
		},
		{
			name: "optional key missing",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "nope", Optional: ptr.To(true)}}},
			}},
			want: map[string]string{},
		},
		{
			name: "mandatory secret missing",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "k"}}},
			}},
			wantErr: `env "X": secret "absent"`,
		},
		{
			name: "mandatory key missing",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nope"}}},
			}},
			wantErr: "couldn't find key nope in ConfigMap ns/cfg",
		},
		{
			name:    "unsupported field",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: fieldRef("spec.hostname")}}},
			wantErr: `fieldRef "spec.hostname" not supported`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvironment()
			err := r.resolve(e, pod, &tt.c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolve() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve() error = %v", err)
			}
			if len(e.vars) != len(tt.want) {
				t.Errorf("resolve() = %v, want %v", e.vars, tt.want)
			}
			for k, v := range tt.want {
				if e.vars[k] != v {
					t.Errorf("%s = %q, want %q", k, e.vars[k], v)
				}
			}
		})
	}
}

func TestEnvironmentOrder(t *testing.T) {
	e := newEnvironment()
	e.set("B", "1")
	e.set("A", "2")
	e.set("B", "3")
	if got, want := strings.Join(e.list(), " "), "B=3 A=2"; got != want {
		t.Errorf("list() = %q, want %q", got, want)
	}
}
