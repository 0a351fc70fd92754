package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"testing"

	"github.com/slotsync/slotsync/internal/pki"
)

func TestIssuedVerifiesAgainstCA(t *testing.T) {
	ca, err := pki.New(pki.Template{Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, KeyUsage: x509.KeyUsageCertSign}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.New(pki.Template{Subject: pkix.Name{CommonName: "leaf"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Fatalf("leaf does not verify against its CA: %v", err)
	}
	keyPEM, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(leaf.CertPEM(), keyPEM); err != nil {
		t.Fatalf("PEM pair does not load: %v", err)
	}
	if b, _ := pem.Decode(leaf.CertPEM()); b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("CertPEM = %v", b)
	}
	if leaf.Cert.SerialNumber.Cmp(ca.Cert.SerialNumber) == 0 {
		t.Fatal("leaf and CA share a serial")
	}
}
