package realnode

import (
	"context"
	"io"
	"net"
	"strconv"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// ControllerManagerFlags are what kube-controller-manager needs beyond the process
// node's: the CA pods trust for the API server (the kube-root-ca.crt ConfigMap) and
// the controllers a kubelet relies on. The node-lifecycle controller lifts the
// not-ready taint the kubelet registers with; without it nothing is scheduled.
func (p PKI) ControllerManagerFlags() (rootCA string, controllers []string) {
	return "--root-ca-file=" + p.CA, []string{"endpointslice-controller", "root-ca-certificate-publisher-controller", "node-lifecycle-controller"}
}

// ConfigureControlPlane makes envtest's API server reachable from pods: it listens
// on the Gateway (BridgeUp must have run) with a certificate that names the
// kubernetes Service, calls kubelets with the PKI's client certificate, keeps
// Services in ServiceSubnet and admits pods with their ServiceAccount tokens,
// which envtest turns off.
func ConfigureControlPlane(control *envtest.Environment, p PKI, certDir string) error {
	ca, err := p.APIServerCerts(certDir)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", Gateway+":0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	api := control.ControlPlane.GetAPIServer()
	api.CertDir = certDir
	api.SecureServing.Address, api.SecureServing.Port = Gateway, strconv.Itoa(port)
	api.SecureServing.CA = ca
	args := api.Configure()
	for k, v := range p.APIServerFlags() {
		args.Set(k, v)
	}
	args.Disable("disable-admission-plugins")
	return nil
}

// Forward listens on the Gateway and copies each connection to target, so pods
// reach a host process that listens on 127.0.0.1 only. It stops when ctx ends.
func Forward(ctx context.Context, target string) (string, error) {
	l, err := net.Listen("tcp", Gateway+":0")
	if err != nil {
		return "", err
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer in.Close()
				out, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				go func() { _, _ = io.Copy(out, in) }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return l.Addr().String(), nil
}
