package realnode

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// PKI is what lets the API server call the kubelet (logs, exec): a CA the kubelet
// trusts for clients and a client certificate from it for the API server. It must
// exist before the API server starts, so it cannot come from envtest's own CA.
type PKI struct {
	CA, ClientCert, ClientKey string
}

// NewPKI writes the CA and the API server's kubelet client certificate into dir.
func NewPKI(dir string) (PKI, error) {
	p := PKI{CA: filepath.Join(dir, "kubelet-client-ca.crt"),
		ClientCert: filepath.Join(dir, "apiserver-kubelet-client.crt"), ClientKey: filepath.Join(dir, "apiserver-kubelet-client.key")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slotsync dev kubelet client CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return p, fmt.Errorf("create the kubelet client CA: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	// system:masters: the kubelet's webhook authorizer asks the API server, whose
	// RBAC lets that group proxy to nodes.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject:   pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return p, fmt.Errorf("create the API server's kubelet client certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return p, err
	}
	files := map[string]*pem.Block{
		p.CA:         {Type: "CERTIFICATE", Bytes: caDER},
		p.ClientCert: {Type: "CERTIFICATE", Bytes: der},
		p.ClientKey:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	}
	for path, b := range files {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
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
