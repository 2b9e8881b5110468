# shellcheck shell=bash
# Istio's plug-in CA as its tools/certs Makefile makes one, for the tests (lib.sh) and the
# multicluster bench: sourced, defines functions only.

# plugged_ca DIR CLUSTER: Istio's plug-in CA as its tools/certs Makefile makes one, in DIR: a
# root (root-cert.pem, root-key.pem; RSA) and an intermediate of it for CLUSTER (ca-cert.pem,
# ca-key.pem, cert-chain.pem), the four files of the cacerts Secret.
plugged_ca() {
	(
		cd "$1" &&
			openssl req -x509 -newkey rsa:2048 -nodes -keyout root-key.pem -out root-cert.pem \
				-days 2 -subj "/O=Istio/CN=Root CA" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign"
	) >/dev/null 2>&1 && intermediate_ca "$1" "$2"
}

# intermediate_ca DIR CLUSTER: the intermediate of the root in DIR, for CLUSTER, into DIR.
intermediate_ca() {
	(
		cd "$1" &&
			openssl req -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.csr \
				-subj "/O=Istio/CN=Intermediate CA/L=$2" &&
			printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >ext.cnf &&
			openssl x509 -req -in ca.csr -CA root-cert.pem -CAkey root-key.pem -CAcreateserial \
				-days 2 -out ca-cert.pem -extfile ext.cnf &&
			cat ca-cert.pem root-cert.pem >cert-chain.pem
	) >/dev/null 2>&1
}

# plugged_intermediate DIR ROOTDIR CLUSTER: another intermediate of plugged_ca's root (in ROOTDIR)
# into DIR, as Istio's tools/certs make one per cluster (`make cluster2-cacerts`).
plugged_intermediate() {
	cp "$2/root-cert.pem" "$2/root-key.pem" "$1/" && intermediate_ca "$1" "$3"
}
