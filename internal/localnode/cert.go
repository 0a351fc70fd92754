package localnode

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"

	"github.com/slotsync/slotsync/internal/pki"
)

// selfSignedCert makes the kubelet API's serving certificate at start: the
// API server does not verify kubelets it has no CA for, and a client that
// wants to can trust this certificate itself (Node.ServingCertPEM).
func selfSignedCert(nodeName string, ip net.IP) (tls.Certificate, []byte, error) {
	c, err := pki.New(pki.Template{
		Subject:     pkix.Name{CommonName: nodeName, Organization: []string{"slotsync local node"}},
		IsCA:        true, // its own CA, so that clients can trust it directly
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{ip},
		DNSNames:    []string{nodeName, "localhost"},
	}, nil)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return c.TLS(), c.CertPEM(), nil
}
