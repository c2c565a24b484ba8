"""Secret safety: the file-name deny-list, the content scan (true and false positives), and known keys."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from opper_mcp.context.assemble import gather
from opper_mcp.context.denylist import secret_file_kind
from opper_mcp.context.secrets import _detectors, scan
from tests.context_repo import ALL_SECRETS, AWS_KEY, OPPER_KEY, SERVER_KEY, Repo, make_repo

ROOT = Path(__file__).resolve().parents[1]
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
PRIVATE_KEY = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (".env", "environment file"), ("app/.env.local", "environment file"), ("prod.env", "environment file"),
        ("certs/server.pem", "certificate or private key"), ("tls.key", "private key"), ("a.p12", "PKCS#12 key store"),
        ("a.pfx", "PKCS#12 key store"), ("home/.ssh/id_rsa", "SSH private key"), ("id_ed25519", "SSH private key"),
        ("id_ecdsa_sk", "SSH private key"), (".npmrc", "npm credentials"), (".pypirc", "PyPI credentials"),
        (".netrc", "netrc credentials"), ("vault.kdbx", "KeePass database"), (".git-credentials", "git credentials"),
        ("home/.aws/credentials", "AWS credentials"), (".docker/config.json", "Docker credentials"),
        ("infra/terraform.tfstate", "Terraform state"), ("application_default_credentials.json", "gcloud credentials"),
        ("keys/service-account-prod.json", "cloud service account key"), (".htpasswd", "htpasswd file"),
        (".kube/config", "Kubernetes credentials"), (".git/config", "git repository internals"),
        ("sub/.git/hooks/pre-commit", "git repository internals"),
    ],
)
def test_deny_listed_names(path: str, kind: str) -> None:
    assert secret_file_kind(path) == kind


@pytest.mark.parametrize(
    "path",
    [".env.example", ".env.sample", ".env.template", ".env.local.example", ".env.production.sample",
     "src/env.py", "config.json", "docs/keys.md", "id_rsa.pub",
     ".ssh/id_ed25519.pub", "environment.yml", "src/credentials.py", "aws/credentials_test.py"],
)
def test_ordinary_names_pass(path: str) -> None:
    assert secret_file_kind(path) is None


def test_deny_listed_file_is_never_sent_even_when_named(repo: Repo) -> None:
    (repo.root / "config.txt").symlink_to(repo.root / ".env")  # a harmless name does not launder it
    g = gather([repo.root], [".env", ".env.example", "config.txt", ".git/config", ".git/*"])
    assert {s.path: s.reason for s in g.skipped if ".git" not in s.path} == {
        ".env": "secret-bearing file name (environment file); never sent"}  # config.txt resolved to .env: one entry
    assert {s.reason for s in g.skipped if ".git" in s.path} == {
        "secret-bearing file name (git repository internals); never sent"}
    assert [a.path for a in g.attached] == [".env.example"]
    assert OPPER_KEY not in "".join(p.text for p in g.parts)


def test_aws_key_in_source_leaves_the_file_out_and_names_kind_and_line(repo: Repo) -> None:
    g = gather([repo.root], ["src/aws.py", "src/util.py"])
    assert [a.path for a in g.attached] == ["src/util.py"]
    assert g.skipped[0].path == "src/aws.py"
    assert g.skipped[0].reason == "secret: AWS Access Key on line 3; file left out"
    blob = repr(g)
    assert AWS_KEY not in blob and AWS_KEY[4:] not in blob


def test_secret_outside_the_attached_range_does_not_block_it(repo: Repo) -> None:
    g = gather([repo.root], ["src/aws.py:1-2"])
    assert [a.lines for a in g.attached] == ["1-2"]
    g = gather([repo.root], ["src/aws.py:2-3"])
    assert g.skipped[0].reason == "secret: AWS Access Key on line 3; file left out"


def test_opper_key_in_source_and_known_server_key(repo: Repo) -> None:
    repo.write("src/client.py", f'KEY = "{OPPER_KEY}"\n')
    repo.write("src/conf.py", f'\n\nheaders = {{"Authorization": "Bearer {SERVER_KEY}"}}\n')
    g = gather([repo.root], ["src/client.py", "src/conf.py"], known_secrets=[SERVER_KEY, "", "short"])
    assert {s.path: s.reason for s in g.skipped} == {
        "src/client.py": "secret: Opper API Key on line 1; file left out",
        "src/conf.py": "secret: the server's own API key on line 3; file left out",
    }
    assert g.attached == [] and all(s not in repr(g) for s in ALL_SECRETS)


def test_many_findings_report_the_first_and_a_count() -> None:
    findings = scan(f"a = 1\nx = '{GH_TOKEN}'\ny = '{STRIPE}'\n{PRIVATE_KEY}", "x.py")
    assert [(f.line, f.kind) for f in findings] == [(2, "GitHub Token"), (3, "Stripe Access Key"),
                                                    (4, "Private Key")]


def test_config_files_get_the_keyword_rule_with_its_heuristics() -> None:
    assert [f.kind for f in scan("db:\n  password: Tr0ub4dor-and-3\n", "docker-compose.yml")] == ["Secret Keyword"]
    for benign in ("password: ${DB_PASSWORD}\n", "password: $DB_PASSWORD\n", "password: <your password>\n",
                   "password: {{ vault.db }}\n", "password: abcdefgh\n"):
        assert scan(benign, "settings.yaml") == [], benign
    assert scan('password = "Tr0ub4dor-and-3"\n', "app.py") == []  # code: keyword rule off (see module docs)


FALSE_POSITIVE_PRONE = '''\
"""Looks secret-ish, is not."""
import hashlib
ENV = {"OPPER_API_KEY": "api_key", "OPPER_BASE_URL": "base_url"}
TOKEN_TYPE = "Bearer"
password = get_password()
api_key = os.environ["OPPER_API_KEY"]
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
RUN_ID = "9f1c2a4e-7b3d-4c8e-a1f2-3d4e5f6a7b8c"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
CSS = "op-primary-button-large-variant"
url = "https://user@example.com/path"
# export OPPER_API_KEY=...   and   OPPER_API_KEY=<your key>   and OPPER_API_KEY=${OPPER_API_KEY}
'''


def test_false_positive_prone_source_is_attached(repo: Repo) -> None:
    repo.write("src/looks_secret.py", FALSE_POSITIVE_PRONE)
    g = gather([repo.root], ["src/looks_secret.py"])
    assert g.skipped == [] and [a.path for a in g.attached] == ["src/looks_secret.py"]


def test_true_positives_in_one_source() -> None:
    assert scan(f'token = "{GH_TOKEN}"\n', "a.py")[0].kind == "GitHub Token"
    assert scan(f"OPPER_API_KEY={OPPER_KEY}\n", "a.sh")[0].kind == "Opper API Key"
    assert scan("OPPER_API_KEY=Zx81kq0PlmN3vQ7r\n", "a.sh")[0].kind == "Opper API Key"  # any key-like value
    conn = "postgres://admin:" + "hunter2x@db:5432/app"
    assert scan(f"conn = '{conn}'\n", "a.py")[0].kind == "Basic Auth Credentials"


def _reference_scan(text: str, config: bool = False) -> set[tuple[int, str]]:
    """detect-secrets' plugins line by line, as its own scanner would call them (our fast path must agree)."""
    out: set[tuple[int, str]] = set()
    for det in _detectors():
        if det.config_only and not config:
            continue
        for n, line in enumerate(text.split("\n"), 1):
            if det.confirm(line):
                out.add((n, det.kind))
    return out


def _hex(n: int) -> str:
    return ("0123456789abcdef" * 8)[3 : 3 + n]


# One line per slow-pattern plugin, in the shapes their patterns accept (values built here, nothing real).
GATED = "\n".join([
    f'cloudant_password = "{"qwertyuiopasdfghjklzxcvb"}"',
    f"CL_API_KEY: '{_hex(64)}'",
    f"url = 'https://acct:{_hex(64)}@acct-bluemix.cloudant.com'",
    f'ibm_cloud_iam_key = "{"Ab1_" * 11}"',
    f"IBM-COS-SECRET-ACCESS-KEY => {_hex(48)}",
    f'softlayer_api_key = "{("a1b2c3d4" * 8)}"',
    f"api = 'https://api.softlayer.com/soap/v3/{'z9y8x7w6' * 8}'",
    "hook = 'HTTPS://HOOKS.SLACK.COM/" + "services/T0ABCDEF/B0ABCDEF/abcdefghij'",
    "tok = 'XOXB-" + "1234-abcdef'",
    f'AWS_SECRET_ACCESS_KEY = "{"wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"}"',
    "art = AKC" + "p8kqrL9vBnT2",
    f"mc = {_hex(32)}-us12",
    "bot = 123456789:" + "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
    "ordinary = 'nothing_here_but_a_long_identifier_name'",
])


def test_gated_plugins_still_catch_their_shapes() -> None:
    expected = _reference_scan(GATED)
    assert {kind for _, kind in expected} >= {
        "Cloudant Credentials", "IBM Cloud IAM Key", "IBM COS HMAC Credentials", "SoftLayer Credentials",
        "Slack Token", "AWS Access Key", "Artifactory Credentials", "Mailchimp Access Key", "Telegram Bot Token"}
    assert {(f.line, f.kind) for f in scan(GATED, "x.py")} == expected


def test_keyword_gate_agrees_on_config_text() -> None:
    conf = "db:\n  password: Tr0ub4dor-and-3\n  user: admin\napi_key = 'k9Fj2LmQ8zR4'\nSECRET: s3cr3tV4lue9\nx: 1\n"
    expected = _reference_scan(conf, config=True)
    assert len(expected) == 3
    assert {(f.line, f.kind) for f in scan(conf, "conf.yaml")} == expected


def test_fast_scan_agrees_with_line_by_line_plugins() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    corpus = [FALSE_POSITIVE_PRONE, f"x\n{AWS_KEY}\n{GH_TOKEN}\n{PRIVATE_KEY}{STRIPE} {STRIPE}\n"]
    for rel in tracked[:400]:
        try:
            corpus.append((ROOT / rel).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    assert len(corpus) > 20
    assert {kind for _, kind in _reference_scan(corpus[1])} == {"AWS Access Key", "GitHub Token", "Private Key",
                                                              "Stripe Access Key"}
    for i, text in enumerate(corpus):
        fast = {(f.line, f.kind) for f in scan(text, "x.py") if f.kind not in ("Opper API Key",)}
        assert fast == _reference_scan(text)
        if i < 60:  # the keyword rule, line by line, is slow: a sample suffices
            fast = {(f.line, f.kind) for f in scan(text, "x.toml") if f.kind not in ("Opper API Key",)}
            assert fast == _reference_scan(text, config=True)
