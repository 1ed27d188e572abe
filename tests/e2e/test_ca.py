"""`crossgate ca`: a mesh CA and the gateway identities it issues, checked with the openssl CLI;
each bad input is refused with one line, exit status 2, and nothing written."""

import os
import stat
import subprocess

from support import BIN


def ca(*args):
    return subprocess.run([BIN, "ca", *args], capture_output=True, text=True, timeout=30)


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_ca_init_and_issue_make_an_identity_the_ca_verifies(tmp_path):
    d = str(tmp_path)
    r = ca("init", "--dir", d, "--name", "test mesh", "--days", "30")
    assert r.returncode == 0, r.stderr
    assert mode(f"{d}/ca.key") == 0o600
    text = openssl("x509", "-in", f"{d}/ca.crt", "-noout", "-text").stdout
    assert "CA:TRUE" in text and "prime256v1" in text and "CN = test mesh" in text

    out = f"{d}/gw-c1"
    r = ca("issue", "--dir", d, "--cluster", "c1", "--namespace", "team-a", "--dns", "ingress.c1",
           "--dns", "*.c1.example", "--out", out)
    assert r.returncode == 0, r.stderr
    assert mode(f"{out}.key") == 0o600
    v = openssl("verify", "-CAfile", f"{d}/ca.crt", "-purpose", "sslclient", f"{out}.crt")
    assert v.returncode == 0, v.stdout + v.stderr
    v = openssl("verify", "-CAfile", f"{d}/ca.crt", "-purpose", "sslserver", f"{out}.crt")
    assert v.returncode == 0, v.stdout + v.stderr
    text = openssl("x509", "-in", f"{out}.crt", "-noout", "-text").stdout
    assert "URI:spiffe://crossgate/ns/team-a/cluster/c1" in text
    assert "DNS:ingress.c1" in text and "DNS:*.c1.example" in text
    assert "ecdsa-with-SHA256" in text and "CA:FALSE" in text
    # the key is the certificate's
    pub_cert = openssl("x509", "-in", f"{out}.crt", "-noout", "-pubkey").stdout
    pub_key = openssl("pkey", "-in", f"{out}.key", "-pubout").stdout
    assert pub_cert and pub_cert == pub_key


def test_ca_init_refuses_to_replace_a_ca(tmp_path):
    d = str(tmp_path)
    assert ca("init", "--dir", d).returncode == 0
    before = open(f"{d}/ca.key").read()
    r = ca("init", "--dir", d)
    assert r.returncode == 2
    assert r.stderr.strip() == f"crossgate ca: {d} already holds a CA; refusing to replace it"
    assert open(f"{d}/ca.key").read() == before


def test_ca_bad_input_is_refused_and_nothing_is_written(tmp_path):
    d = str(tmp_path)
    assert ca("init", "--dir", d).returncode == 0
    out = f"{d}/id"
    cases = [
        (["issue", "--dir", d, "--cluster", "C1", "--namespace", "n", "--out", out],
         'crossgate ca: --cluster wants a name of [a-z0-9-] (1..63), got "C1"'),
        (["issue", "--dir", d, "--cluster", "c1", "--namespace", "n/x", "--out", out],
         'crossgate ca: --namespace wants a name of [a-z0-9-] (1..63), got "n/x"'),
        (["issue", "--dir", d, "--cluster", "c1", "--namespace", "n", "--dns", "a,URI:x",
          "--out", out],
         'crossgate ca: dns: "a,URI:x" is not a host name'),
        (["issue", "--dir", d, "--cluster", "c1", "--namespace", "n"],
         "crossgate ca issue: --out is required"),
        (["issue", "--dir", d, "--cluster", "c1", "--namespace", "n", "--days", "0", "--out", out],
         'crossgate ca: --days wants 1..36500, got "0"'),
        (["issue", "--dir", f"{d}/none", "--cluster", "c1", "--namespace", "n", "--out", out],
         f"crossgate ca: cannot open {d}/none/ca.crt: No such file or directory"),
        (["init", "--dir", f"{d}/ca.crt"], f"crossgate ca: --dir {d}/ca.crt is not a directory"),
        (["init", "--dir", f"{d}/none/deeper"],
         f"crossgate ca: cannot create --dir {d}/none/deeper: No such file or directory"),
        (["init", "--dir", d, "--cluster", "c1"], "crossgate ca init: --cluster does not apply here"),
    ]
    for args, line in cases:
        r = ca(*args)
        assert r.returncode == 2, args
        assert r.stderr.strip() == line, args
    assert sorted(os.listdir(d)) == ["ca.crt", "ca.key"]

    # a CA key that is not the CA's: refused, nothing written
    other = tmp_path / "other"
    other.mkdir()
    assert ca("init", "--dir", str(other)).returncode == 0
    os.replace(other / "ca.key", tmp_path / "ca.key")
    r = ca("issue", "--dir", d, "--cluster", "c1", "--namespace", "n", "--out", out)
    assert r.returncode == 2
    assert r.stderr.strip() == "crossgate ca: ca key: does not match the CA certificate"
    assert sorted(os.listdir(d)) == ["ca.crt", "ca.key", "other"]


def test_ca_init_creates_a_private_directory(tmp_path):
    d = tmp_path / "new-ca"
    assert ca("init", "--dir", str(d)).returncode == 0
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert sorted(os.listdir(d)) == ["ca.crt", "ca.key"]
    assert stat.S_IMODE(os.stat(d / "ca.key").st_mode) == 0o600


def test_ca_issue_never_writes_the_key_into_a_file_opened_before(tmp_path):
    # a leftover PATH.key.tmp that someone holds open must not receive the key
    d = str(tmp_path)
    assert ca("init", "--dir", d).returncode == 0
    out = tmp_path / "id"
    planted = tmp_path / "id.key.tmp"
    planted.write_text("")
    os.chmod(planted, 0o644)
    with open(planted, "rb") as spy:
        r = ca("issue", "--dir", d, "--cluster", "c1", "--namespace", "n", "--out", str(out))
        assert r.returncode == 0, r.stderr
        assert spy.read() == b""  # the old inode stayed empty
    assert stat.S_IMODE(os.stat(f"{out}.key").st_mode) == 0o600
    assert b"PRIVATE KEY" in open(f"{out}.key", "rb").read()
    assert not planted.exists()
