"""hubfleet.secrets.lint: plaintext secrets in plain values files."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hubfleet.base.errors import Problem
from hubfleet.base.yamlio import load_yaml
from hubfleet.secrets.lint import HINT, is_secret_key, lint_plaintext

PATH = "config/clusters/c1/hub.values.yaml"


def lint(text: str) -> list[Problem]:
    return lint_plaintext(load_yaml(text, PATH), text)


def test_secret_key_reported_with_line_and_hint() -> None:
    text = """\
hub:
  config:
    GitHubOAuthenticator:
      client_id: abc
      client_secret: 0123456789abcdef
proxy:
  secretToken: "deadbeef"
"""
    problems = lint(text)
    assert [(p.path, p.line, p.message) for p in problems] == [
        (PATH, 5, "hub.config.GitHubOAuthenticator.client_secret holds a plaintext secret"),
        (PATH, 7, "proxy.secretToken holds a plaintext secret"),
    ]
    assert all(p.hint == HINT and p.severity == "error" for p in problems)


def test_conventional_key_forms() -> None:
    for key in (
        "clientSecret",
        "client_secret",
        "apiToken",
        "api_token",
        "secretToken",
        "cookieSecret",
        "password",
        "Password",
        "privateKey",
        "private_key",
        "secretKey",
        "secret_key",
        "accessKey",
        "apiKey",
        "GITHUB_TOKEN",
        "db_password",
        "adminPassword",
        "webhookSecret",
        "token",
    ):
        assert is_secret_key(key), key
        assert len(lint(f"a:\n  {key}: value-123\n")) == 1, key
    for key in (
        "passwordPolicy",
        "tokenLifetime",
        "secretName",
        "existingSecret",
        "imagePullSecret",
        "token_url",
        "client_id",
        "secretKeyRef",
        "secrets",
    ):
        assert not is_secret_key(key), key


def test_no_false_alarms_on_public_config() -> None:
    text = """\
hub:
  existingSecret: hub-secret
  cookieSecret: ""
  password: null
  apiToken: ~
  secretToken: true
  db:
    password: ${DB_PASSWORD}
  extraEnv:
    OAUTH_CLIENT_SECRET:
      valueFrom:
        secretKeyRef:
          name: oauth
          key: client_secret
    OTHER_TOKEN: "$OTHER_TOKEN"
  config:
    Authenticator:
      token_url: https://example.org/token
      passwordPolicy: strong
      tokenLifetime: 3600
    NativeAuthenticator:
      minimum_password_length: 10
  templated:
    password: "{{ .Values.password }}"
    apiKey: <your api key here>
ingress:
  tls:
    - secretName: hub-tls
      hosts: [hub.example.org]
singleuser:
  extraEnv:
    GITHUB_TOKEN:
      valueFrom:
        secretKeyRef: {name: gh, key: token}
list:
  - password
  - token
"""
    assert lint(text) == []


def test_key_material_anywhere() -> None:
    aws = "AKIA" + "ABCDEFGHIJKLMNOP"
    gh = "ghp_" + "a" * 36
    age = "AGE-SECRET-KEY-1" + "Q" * 58
    text = f"""\
singleuser:
  extraFiles:
    key:
      stringData: |
        -----BEGIN RSA PRIVATE KEY-----
        MIIE
        -----END RSA PRIVATE KEY-----
  extraEnv:
    AWS_ACCESS_KEY_ID: {aws}
    SOMETHING: {gh}
    SLACK: xoxb-1234567890-abcdefghij
    SA: '{{"type": "service_account", "private_key": "x"}}'
    PAT: github_pat_{"A" * 30}
  args:
    - {age}
"""
    problems = lint(text)
    messages = [p.message for p in problems]
    assert messages == [
        "singleuser.extraFiles.key.stringData holds what looks like a private key",
        "singleuser.extraEnv.AWS_ACCESS_KEY_ID holds what looks like an AWS access key id",
        "singleuser.extraEnv.SOMETHING holds what looks like a GitHub token",
        "singleuser.extraEnv.SLACK holds what looks like a Slack token",
        "singleuser.extraEnv.SA holds what looks like a GCP service-account key",
        "singleuser.extraEnv.PAT holds what looks like a GitHub token",
        "singleuser.args[0] holds what looks like an age secret key",
    ]
    assert [p.line for p in problems] == [4, 9, 10, 11, 12, 13, 15]


def test_not_key_material() -> None:
    text = """\
a:
  b: AKIA-not-a-key
  c: ghp_short
  d: "-----BEGIN CERTIFICATE-----"
  e: "-----BEGIN PUBLIC KEY-----"
  f: the private_key setting
"""
    assert lint(text) == []


def test_allow_marker_on_the_key_line() -> None:
    text = """\
hub:
  config:
    DummyAuthenticator:
      password: demo  # hubfleet: allow-plaintext
    Other:
      password: demo2
      # hubfleet: allow-plaintext  (on another line: does not count)
"""
    problems = lint(text)
    assert [(p.line, p.message) for p in problems] == [
        (6, "hub.config.Other.password holds a plaintext secret")
    ]
    assert lint("password: x #hubfleet:allow-plaintext\n") == []


def test_non_mapping_documents() -> None:
    assert lint("") == []
    assert lint("just a string\n") == []
    assert (
        lint("- password\n- {password: x}\n")[0].message == "[1].password holds a plaintext secret"
    )


def test_fast_enough_for_thousands_of_files() -> None:
    # Not a timed assertion: a smoke check that 1,000 typical files lint quickly.
    text = "".join(
        f"hub{i}:\n  config:\n    Auth{i}:\n      admin_users: [a, b]\n      token_url: u\n"
        for i in range(20)
    )
    doc = load_yaml(text, PATH)
    started = time.perf_counter()
    for _ in range(1000):
        assert lint_plaintext(doc, text) == []
    print(f"lint: {(time.perf_counter() - started) * 1000:.1f} ms for 1,000 files")


# Values of real configuration that are not secrets (the fleet in the 2i2c layout has
# the first two), and secrets that must still be found; each as a one-file table row.
TOKEN_40 = "0123456789abcdef0123456789abcdef01234567"
NOT_SECRETS = [
    ("env reference", "options:\n  apiKey: '{env:OPENAI_API_KEY}'\n"),
    ("file reference", "options:\n  apiKey: '{file:/etc/secrets/key}'\n"),
    ("shell reference", "db:\n  password: ${DB_PASSWORD}\n"),
    ("kubernetes reference", "env:\n  - name: X\n    value: x\n  - token: $(HUB_TOKEN)\n"),
    ("valueFrom", "env:\n  API_TOKEN:\n    valueFrom:\n      secretKeyRef: {name: a, key: b}\n"),
    (
        "extraConfig named like a token",
        "hub:\n  extraConfig:\n    00-exfiltrate-token: |\n"
        "      def hook(authenticator, auth_state):\n"
        "          return auth_state\n"
        "      c.GenericOAuthenticator.modify_auth_state_hook = hook\n",
    ),
    (
        "extraConfig reading a secret from the environment",
        "hub:\n  extraConfig:\n    10-secret: |\n"
        "      import os\n      c.X.client_secret = os.environ['CLIENT_SECRET']\n"
        "      c.X.api_token = ''\n",
    ),
    ("empty", "hub:\n  cookieSecret: ''\n"),
    ("placeholder changeme", "hub:\n  password: changeme\n"),
    ("placeholder stars", "hub:\n  password: '********'\n"),
    ("placeholder angle", "hub:\n  apiKey: <set in the encrypted file>\n"),
]
SECRETS = [
    (
        "40-character token",
        f"hub:\n  apiToken: {TOKEN_40}\n",
        2,
        "hub.apiToken holds a plaintext secret",
    ),
    (
        "token in extraConfig code",
        f"hub:\n  extraConfig:\n    10-auth: |\n      c.GitHubOAuthenticator.client_secret = '{TOKEN_40}'\n",
        3,
        "hub.extraConfig.10-auth holds a plaintext secret in code "
        "(c.GitHubOAuthenticator.client_secret = ...)",
    ),
    (
        "private key in extraConfig code",
        "hub:\n  extraConfig:\n    00-key: |\n      KEY = '''\n"
        "      -----BEGIN PRIVATE KEY-----\n      abc\n      -----END PRIVATE KEY-----'''\n",
        3,
        "hub.extraConfig.00-key holds what looks like a private key",
    ),
    (
        "cloud key",
        "env:\n  AWS_ACCESS_KEY_ID: " + "AKIA" + "ABCDEFGHIJKLMNOP" + "\n",
        2,
        "env.AWS_ACCESS_KEY_ID holds what looks like an AWS access key id",
    ),
    (
        "env-like text that is not a reference",
        "options:\n  apiKey: 'sk-{env:OPENAI_API_KEY}-literal'\n",
        2,
        "options.apiKey holds a plaintext secret",
    ),
]


@pytest.mark.parametrize(("name", "text"), NOT_SECRETS, ids=[row[0] for row in NOT_SECRETS])
def test_real_configuration_is_not_flagged(name: str, text: str) -> None:
    assert lint(text) == [], name


@pytest.mark.parametrize(
    ("name", "text", "line", "message"), SECRETS, ids=[row[0] for row in SECRETS]
)
def test_real_secrets_are_still_flagged(name: str, text: str, line: int, message: str) -> None:
    assert [(p.line, p.message) for p in lint(text)] == [(line, message)], name


def test_the_layout_fixtures_values_lint_clean() -> None:
    path = "config/clusters/azure-three/common-ai.values.yaml"
    fixture = Path(__file__).parents[1] / "fixtures" / "layout2i2c" / "fleet" / path
    text = fixture.read_text()
    assert "{env:OPENAI_API_KEY}" in text and "00-exfiltrate-token" in text
    assert lint_plaintext(load_yaml(text, path), text) == []
