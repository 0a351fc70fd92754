package devenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	inventoryv1alpha1 "github.com/slotsync/slotsync/api/v1alpha1"
)

func objectMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace}
}

// ScheduleSecret is a Secret in Namespace that a SyncSchedule reads (partner key,
// database URL). The environment and the end-to-end test make every such Secret
// here, so what the controller requires of them is set in one place: every
// schedule of the dev namespace may use them (the sample, and those the
// end-to-end test makes); the controller runs no Job otherwise.
func ScheduleSecret(name string, data map[string]string) *corev1.Secret {
	meta := objectMeta(name, Namespace)
	meta.Annotations = map[string]string{inventoryv1alpha1.AnnotationAllowedSchedules: "*"}
	return &corev1.Secret{ObjectMeta: meta, StringData: data}
}

// ServiceAccountKubeconfig writes a kubeconfig that acts as a ServiceAccount with a
// fresh token, so a process runs with exactly the rights RBAC gives that account.
func (e *Env) ServiceAccountKubeconfig(ctx context.Context, namespace, name string) (string, string, error) {
	cs, err := kubernetes.NewForConfig(e.RESTConfig)
	if err != nil {
		return "", "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](7 * 24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", "", fmt.Errorf("token for ServiceAccount %s/%s: %w", namespace, name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["dev"] = &clientcmdapi.Cluster{Server: e.RESTConfig.Host, CertificateAuthorityData: e.RESTConfig.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["dev"] = &clientcmdapi.Context{Cluster: "dev", AuthInfo: name, Namespace: namespace}
	cfg.CurrentContext = "dev"
	path := filepath.Join(e.opts.Root, "kubeconfig-"+name)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", "", err
	}
	return path, tr.Status.Token, nil
}

func (e *Env) startManager(ctx context.Context) error {
	kc, _, err := e.ServiceAccountKubeconfig(ctx, SystemNamespace, "slotsync-manager")
	if err != nil {
		return err
	}
	metrics, err := freeAddr()
	if err != nil {
		return err
	}
	probes, err := freeAddr()
	if err != nil {
		return err
	}
	e.managerKC = kc
	e.ManagerURL = "http://" + probes
	e.managerArgs = []string{"manager", "--leader-elect=true", "--leader-election-namespace=" + SystemNamespace,
		"--metrics-bind-address=" + metrics, "--health-probe-bind-address=" + probes, "--worker-image=" + WorkerImage}
	return e.RestartManager(ctx)
}

// probeClient asks the host processes whether they are ready.
var probeClient = &http.Client{Timeout: 2 * time.Second}

// RestartManager takes the manager away mid-work. On the process node it kills the
// manager (SIGKILL, as a crash would) and starts it again; on the real node it
// deletes the leader's pod and waits for the other replica to lead.
func (e *Env) RestartManager(ctx context.Context) error {
	if e.NodeKind == NodeReal {
		return e.deleteManagerLeader(ctx)
	}
	e.mu.Lock()
	old := e.manager
	e.mu.Unlock()
	if old != nil {
		old.Stop(0)
	}
	p, err := startProcess(e.logDir(), "manager", []string{"KUBECONFIG=" + e.managerKC}, e.opts.Slotsync, e.managerArgs...)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.manager = p
	e.mu.Unlock()
	return p.waitFor(ctx, time.Minute, httpOK(probeClient, e.ManagerURL+"/readyz"))
}

func (e *Env) startAPI(ctx context.Context) error {
	kc, _, err := e.ServiceAccountKubeconfig(ctx, SystemNamespace, "slotsync-api")
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	metrics, err := freeAddr()
	if err != nil {
		return err
	}
	e.APIURL, e.APIMetricsURL = "http://"+addr, "http://"+metrics
	p, err := startProcess(e.logDir(), "api", []string{"KUBECONFIG=" + kc, "DATABASE_URL=" + e.DatabaseURL}, e.opts.Slotsync,
		"api", "--listen="+addr, "--metrics-bind-address="+metrics, "--schedule="+Namespace+"/"+ScheduleName, "--insecure-http")
	if err != nil {
		return err
	}
	e.procs = append(e.procs, p)
	return p.waitFor(ctx, time.Minute, httpOK(probeClient, e.APIURL+"/readyz"))
}

func httpOK(hc *http.Client, url string) func() error {
	return func() error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// Sample is config/samples' schedule pointed at the simulator, compressed in fast mode.
func (e *Env) Sample() (*inventoryv1alpha1.SyncSchedule, error) {
	data, err := os.ReadFile(filepath.Join(e.opts.RepoRoot, "config", "samples", "inventory_v1alpha1_syncschedule.yaml"))
	if err != nil {
		return nil, err
	}
	var ss inventoryv1alpha1.SyncSchedule
	if err := yaml.UnmarshalStrict(data, &ss); err != nil {
		return nil, fmt.Errorf("read the sample schedule: %w", err)
	}
	ss.Namespace = Namespace
	ss.Spec.Partner.BaseURL = e.SimURL
	if e.opts.Fast {
		ss.Spec.Windows = inventoryv1alpha1.DefaultWindows()
		for i := range ss.Spec.Windows {
			ss.Spec.Windows[i].Every.Duration /= TimeScale
		}
		ss.Spec.Partner.RateLimitWindow = metav1.Duration{Duration: time.Minute / TimeScale}
	}
	return &ss, nil
}

// SampleYAML is Sample as YAML, for kubectl apply.
func (e *Env) SampleYAML() ([]byte, error) {
	ss, err := e.Sample()
	if err != nil {
		return nil, err
	}
	ss.APIVersion, ss.Kind = inventoryv1alpha1.GroupVersion.String(), "SyncSchedule"
	return yaml.Marshal(ss)
}

func (e *Env) applySample(ctx context.Context) error {
	doc, err := e.SampleYAML()
	if err != nil {
		return err
	}
	_, err = e.kubectl(ctx, doc, "apply", "-f", "-")
	return err
}

// WaitReady waits until the sample schedule reports Ready=True: the first run of every
// window succeeded.
func (e *Env) WaitReady(ctx context.Context, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var ss inventoryv1alpha1.SyncSchedule
		if err := e.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: ScheduleName}, &ss); err == nil {
			c := apimeta.FindStatusCondition(ss.Status.Conditions, inventoryv1alpha1.ConditionReady)
			if c != nil && c.Status == metav1.ConditionTrue {
				return true, nil
			}
			if c != nil {
				last = c.Reason + ": " + c.Message
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("schedule %s/%s not Ready after %v (%s)", Namespace, ScheduleName, timeout, last)
	}
	return nil
}

// Instructions is what a person needs to look at the running system.
func (e *Env) Instructions() string {
	today := time.Now().UTC().Format(time.DateOnly)
	curl := "curl -s"
	lines := []string{"slotsync is running. In another shell:", "", "  export KUBECONFIG=" + e.Kubeconfig}
	if e.NodeKind == NodeReal {
		curl = "curl -s --cacert " + e.APICAFile
		lines = append(lines,
			"  kubectl get nodes -o wide               # the containerd node",
			"  kubectl -n "+SystemNamespace+" get deploy,pods,svc  # config/default's Deployments",
			"  kubectl -n "+SystemNamespace+" logs deploy/slotsync-manager",
			"", "The API through its Service "+apiHost+" ("+e.APIURL+", HTTPS with a certificate of "+e.APICAFile+"):")
	}
	lines = append(lines,
		"  kubectl get ss                       # the SyncSchedule, its Ready and last sync",
		"  kubectl get jobs,pods                # sync Jobs and their pods on the "+e.NodeKind+" node",
		"  "+curl+" '"+e.APIURL+"/api/v1/experience/14/slots?date="+today+"'",
		"  "+curl+" '"+e.APIURL+"/api/v1/experience/14/dates'",
		"",
		"Pause and resume with kubectl:",
		"  kubectl patch ss "+ScheduleName+" --type=merge -p '{\"spec\":{\"paused\":true}}'",
		"  kubectl patch ss "+ScheduleName+" --type=merge -p '{\"spec\":{\"paused\":false}}'",
		"or over REST, with a token RBAC allows to pause and resume SyncSchedules:",
		"  kubectl create serviceaccount pauser",
		"  kubectl create rolebinding pauser --clusterrole=slotsync-syncschedule-pauser --serviceaccount=default:pauser",
		"  "+curl+" -X POST -H \"Authorization: Bearer $(kubectl create token pauser --audience slotsync)\" "+e.APIURL+"/api/v1/sync/pause",
		"",
		"Postgres: psql '"+e.DatabaseURL+"'",
		"Logs of every component on this host: "+e.logDir(),
		"Ctrl-C stops everything; the next start wipes "+e.opts.Root+".",
	)
	return strings.Join(lines, "\n")
}
