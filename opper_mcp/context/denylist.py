"""File names that hold credentials by convention: such files are never sent, whatever their content.

`.env` and `.env.*` are refused, except templates: names ending in `.example`, `.sample`, `.template` or `.dist`
(`.env.example`, `.env.local.sample`). Those are meant to be committed and shared, and they still go through the
content scan like any other file.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import PurePosixPath

_TEMPLATE_SUFFIXES = (".example", ".sample", ".template", ".dist")

# (pattern on the file name, what it is)
_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (".env", "environment file"),
    (".env.*", "environment file"),
    ("*.env", "environment file"),
    (".envrc", "environment file"),
    ("*.pem", "certificate or private key"),
    ("*.key", "private key"),
    ("*.p12", "PKCS#12 key store"),
    ("*.pfx", "PKCS#12 key store"),
    ("*.jks", "Java key store"),
    ("*.keystore", "key store"),
    ("*.ppk", "PuTTY private key"),
    ("*.asc", "PGP key"),
    ("*.gpg", "PGP file"),
    ("id_rsa*", "SSH private key"),
    ("id_dsa*", "SSH private key"),
    ("id_ecdsa*", "SSH private key"),
    ("id_ed25519*", "SSH private key"),
    (".npmrc", "npm credentials"),
    (".yarnrc.yml", "yarn credentials"),
    (".pypirc", "PyPI credentials"),
    (".netrc", "netrc credentials"),
    ("_netrc", "netrc credentials"),
    (".pgpass", "PostgreSQL password file"),
    (".my.cnf", "MySQL credentials"),
    ("*.kdbx", "KeePass database"),
    (".git-credentials", "git credentials"),
    (".htpasswd", "htpasswd file"),
    ("*.tfstate", "Terraform state"),
    ("*.tfstate.backup", "Terraform state"),
    ("*.tfvars", "Terraform variables"),
    ("application_default_credentials.json", "gcloud credentials"),
    ("service-account*.json", "cloud service account key"),
    ("credentials.json", "credentials file"),
    ("secrets.yml", "secrets file"),
    ("secrets.yaml", "secrets file"),
    ("secrets.json", "secrets file"),
    ("*.secret", "secret file"),
    ("*.secrets", "secret file"),
    ("auth.json", "Composer credentials"),
    (".dockercfg", "Docker credentials"),
    ("kubeconfig", "Kubernetes credentials"),
)

# (parent directory name, file name pattern, what it is)
_DIR_PATTERNS: tuple[tuple[str, str, str], ...] = (
    (".aws", "credentials", "AWS credentials"),
    (".aws", "config", "AWS config"),
    (".docker", "config.json", "Docker credentials"),
    (".kube", "config", "Kubernetes credentials"),
    (".ssh", "*", "SSH file"),
    (".gnupg", "*", "GnuPG file"),
    ("gcloud", "credentials.db", "gcloud credentials"),
    ("gcloud", "access_tokens.db", "gcloud credentials"),
    (".config/gh", "hosts.yml", "GitHub CLI credentials"),
)


_NAME_RX = [(re.compile(fnmatch.translate(p), re.IGNORECASE), what) for p, what in _NAME_PATTERNS]


def secret_file_kind(path: str) -> str | None:
    """What secret-bearing file `path` (relative or absolute, `/`-separated) looks like, or None if it looks safe."""
    p = PurePosixPath(path.replace("\\", "/"))
    if ".git" in p.parts[:-1]:
        return "git repository internals"  # .git/config can hold remote URLs with tokens
    name = p.name
    lower = name.lower()
    if lower.endswith(".pub") or (lower.startswith(".env") and lower.endswith(_TEMPLATE_SUFFIXES)):
        return None
    for rx, what in _NAME_RX:
        if rx.match(name):
            return what
    parent = p.parent.as_posix().lower()
    for folder, pattern, what in _DIR_PATTERNS:
        if (parent == folder or parent.endswith("/" + folder)) and fnmatch.fnmatch(name.lower(), pattern):
            return what
    return None
