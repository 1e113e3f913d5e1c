"""The shipped deployment files agree with the server (issue #8, finding 5): nginx forwards
the caller's address, and pchat trusts exactly the proxy in front of it."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields
from pathlib import Path

from pchat.server.config import Settings
from pchat.server.edge import TrustedProxies

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_every_setting_named_in_deploy_exists() -> None:
    known = {f"PCHAT_{f.name.upper()}" for f in fields(Settings)}
    for path in [*DEPLOY.glob("*"), *DEPLOY.glob("k8s/*")]:
        if path.is_file():
            used = set(re.findall(r"PCHAT_[A-Z_]+", path.read_text()))
            assert used <= known, (path.name, used - known)


def test_compose_trusts_its_nginx_and_only_it() -> None:
    compose = (DEPLOY / "docker-compose.yml").read_text()
    trusted = re.findall(r"PCHAT_TRUSTED_PROXIES:\s*(\S+)", compose)
    nginx_ip = re.findall(r"ipv4_address:\s*(\S+)", compose)
    subnet = re.findall(r"subnet:\s*(\S+)", compose)
    assert trusted == nginx_ip and len(trusted) == 1
    assert ipaddress.ip_address(nginx_ip[0]) in ipaddress.ip_network(subnet[0])
    proxies = TrustedProxies(trusted[0].split(","))
    assert nginx_ip[0] in proxies
    assert str(ipaddress.ip_network(subnet[0])[1]) not in proxies  # not the gateway


def test_nginx_forwards_the_callers_address_everywhere() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    locations = re.findall(r"location [^{]*\{(.*?)\n        \}", conf, re.S)
    assert len(locations) >= 2
    for body in locations:
        assert "proxy_pass" in body
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in body


def test_k8s_trusts_a_network() -> None:
    manifest = (DEPLOY / "k8s" / "pchat.yaml").read_text()
    values = re.findall(r"name: PCHAT_TRUSTED_PROXIES, value: \"([^\"]+)\"", manifest)
    assert len(values) == 1
    assert TrustedProxies(values[0].split(","))
