package realnode

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/slotsync/slotsync/internal/pki"
)

// PKI is what lets the API server call the kubelet (logs, exec): a CA the kubelet
// trusts for clients and a client certificate from it for the API server. It must
// exist before the API server starts, so it cannot come from envtest's own CA.
type PKI struct {
	CA, ClientCert, ClientKey string

	ca *pki.Cert
}

// NewPKI writes the CA and the API server's kubelet client certificate into dir.
func NewPKI(dir string) (PKI, error) {
	p := PKI{CA: filepath.Join(dir, "kubelet-client-ca.crt"),
		ClientCert: filepath.Join(dir, "apiserver-kubelet-client.crt"), ClientKey: filepath.Join(dir, "apiserver-kubelet-client.key")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p, err
	}
	ca, err := pki.New(pki.Template{Subject: pkix.Name{CommonName: "slotsync dev kubelet client CA"},
		IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, nil)
	if err != nil {
		return p, fmt.Errorf("create the kubelet client CA: %w", err)
	}
	p.ca = ca
	// system:masters: the kubelet's webhook authorizer asks the API server, whose
	// RBAC lets that group proxy to nodes.
	client, err := pki.New(pki.Template{
		Subject:  pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca)
	if err != nil {
		return p, fmt.Errorf("create the API server's kubelet client certificate: %w", err)
	}
	keyPEM, err := client.KeyPEM()
	if err != nil {
		return p, err
	}
	files := map[string][]byte{p.CA: ca.CertPEM(), p.ClientCert: client.CertPEM(), p.ClientKey: keyPEM}
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return p, err
		}
	}
	return p, nil
}

// APIServerFlags are the kube-apiserver flags a real node needs: the client
// certificate for the kubelet, the node's InternalIP (127.0.0.1) rather than its
// unresolvable name, and Services in this environment's block.
func (p PKI) APIServerFlags() map[string]string {
	return map[string]string{
		"kubelet-client-certificate":      p.ClientCert,
		"kubelet-client-key":              p.ClientKey,
		"kubelet-preferred-address-types": "InternalIP",
		"service-cluster-ip-range":        ServiceSubnet,
	}
}

// APIServerCerts writes into certDir, for envtest's APIServer.CertDir, a serving
// certificate valid for every address the API server is reached at (localhost, the
// Gateway it listens on, the kubernetes Service's IP and name) and the service
// account signing key. envtest's own certificate names only its listen address and
// it makes neither file when apiserver.crt exists. It returns the CA in PEM, for
// SecureServing.CA.
func (p PKI) APIServerCerts(certDir string) ([]byte, error) {
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	serving, err := pki.New(pki.Template{Subject: pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(Gateway), net.ParseIP(KubernetesServiceIP)}}, p.ca)
	if err != nil {
		return nil, fmt.Errorf("create the API server's serving certificate: %w", err)
	}
	keyPEM, err := serving.KeyPEM()
	if err != nil {
		return nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"apiserver.crt": serving.CertPEM(),
		"apiserver.key": keyPEM,
		"sa-signer.crt": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
		"sa-signer.key": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(certDir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	return p.ca.CertPEM(), nil
}
