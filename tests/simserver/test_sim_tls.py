"""``veolab sim serve`` over TLS: a self-signed certificate for 127.0.0.1 and localhost, made
once and reused, a bundle that trusts it beside the public CAs, an https base URL; clients
that do not trust it are refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import certifi
import httpx
import pytest
from click.testing import CliRunner

from veolab.cli import cli
from veolab.simserver import serve_in_subprocess
from veolab.simserver.tls import self_signed


def test_the_certificate_is_made_once_and_reused(tmp_path: Path) -> None:
    from cryptography import x509

    files = self_signed(tmp_path / "tls")
    cert = files.cert.read_bytes()
    assert stat.S_IMODE(os.stat(files.key).st_mode) == 0o600
    san = x509.load_pem_x509_certificate(cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert {str(n.value) for n in san.value} == {"localhost", "127.0.0.1", "::1"}
    bundle = files.bundle.read_bytes()
    assert bundle.startswith(Path(certifi.where()).read_bytes()[:200]) and bundle.endswith(cert)
    assert self_signed(tmp_path / "tls").cert.read_bytes() == cert  # reused, not made again
    files.bundle.unlink()
    assert self_signed(tmp_path / "tls").cert.read_bytes() != cert  # incomplete: made again


def test_an_https_server_trusted_through_the_bundle(sim_server, tmp_path: Path) -> None:
    files = self_signed(tmp_path / "tls")
    srv = sim_server(tls_cert=str(files.cert), tls_key=str(files.key))
    assert srv.base_url.startswith("https://127.0.0.1:")
    health = httpx.get(f"{srv.base_url}/_sim/health", verify=str(files.bundle))
    assert health.json()["ok"] is True
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{srv.base_url}/_sim/health")  # certifi's CAs alone do not trust it
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(srv.base_url.replace("https://", "http://") + "/_sim/health")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tls-cert", "c.pem"], "Error: --tls-cert needs --tls-key (and the other way round)\n"),
        (
            ["--tls", "--tls-cert", "c.pem", "--tls-key", "c.pem"],
            "Error: use --tls (a self-signed certificate) or --tls-cert/--tls-key, not both\n",
        ),
    ],
)
def test_bad_tls_options_are_one_line_and_exit_2(tmp_path: Path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    Path("c.pem").write_text("x")
    r = CliRunner().invoke(cli, ["sim", "serve", *args])
    assert (r.exit_code, r.stderr) == (2, message)


@pytest.mark.slow
def test_sim_serve_tls_says_how_to_trust_it(tmp_path: Path) -> None:
    with serve_in_subprocess("--tls", "--render-workers", "0") as url:
        assert url.startswith("https://127.0.0.1:")
        bundle = Path(os.environ["VEOLAB_HOME"]) / "sim-tls" / "bundle.pem"
        assert httpx.get(f"{url}/_sim/health", verify=str(bundle)).json()["ok"] is True
