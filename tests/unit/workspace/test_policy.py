"""Which file names count as secret: one table of names that must be hidden and names that must not."""

from __future__ import annotations

import pytest

from kimi_lsp.context import is_secret_path

SECRET = [
    # dotenv and friends
    "config/.env.production",
    "app/.ENV.local",
    ".dev.vars",
    ".dev.vars.staging",
    # private keys and key stores
    "deploy/id_ed25519",
    "id_rsa",
    "putty.ppk",
    "keys/private.gpg",
    "keys/key.asc",
    "home/.ssh/id_rsa.pub",  # everything under .ssh stays hidden, public halves included
    ".ssh/known_hosts",
    # package manager and tool credentials
    ".yarnrc.yml",
    ".s3cfg",
    ".boto",
    ".vault-token",
    ".pgpass",
    ".htpasswd",
    ".git-credentials",
    "auth.json",
    ".git/config",
    ".docker/config.json",
    "home/.docker/config.json",
    ".kube/config",
    "kubeconfig",
    "ci/kubeconfig.yaml",
    ".config/gh/hosts.yml",
    "home/.config/gh/hosts.yml",
    # cloud and infrastructure
    "terraform.tfvars",
    "env/prod.tfvars",
    "prod.auto.tfvars.json",
    "terraform.tfstate",
    "terraform.tfstate.backup",
    "client_secret.json",
    "client_secret_1234-abc.apps.googleusercontent.com.json",
    "service_account.json",
    "gcp-service-account.json",
    "keys/service-account-prod.json",
    "local.settings.json",
    # secrets.* / credentials.* as data, dotted or not, whatever the format
    "secrets.yaml",
    ".secrets.toml",
    "config/secret.json",
    "config/credentials.yml.enc",
    "secrets.sh",
    "secrets.sops.yaml",
]

NOT_SECRET = [
    # source modules that merely handle secrets are code the model may need
    "kimi_lsp/context/secrets.py",
    "secrets.py",
    "lib/secret.rb",
    "auth/credentials.py",
    "src/credentials.ts",
    "tests/test_secrets.py",
    # public keys outside .ssh are made to be shared
    "id_rsa.pub",
    "deploy/id_ed25519.pub",
    # ordinary files with near-miss names
    "config/settings.local.py",
    "dev.vars",
    "auth.py",
    "docs/kubeconfig.md",
    "terraform/main.tf",
    "terraform.tfvars.example",
    "service_account.py",
    "gh/hosts.yml",
    "config/hosts.yml",
    "docker/config.json",
    "kube/config",
    "git/config",
    "yarnrc.yml",
]


@pytest.mark.parametrize("path", SECRET)
def test_secret_names_are_hidden(path: str) -> None:
    assert is_secret_path(path)
    assert is_secret_path(path.replace("/", "\\"))  # Windows separators name the same file


@pytest.mark.parametrize("path", NOT_SECRET)
def test_ordinary_names_stay_readable(path: str) -> None:
    assert not is_secret_path(path)
